// Guards the report renderers: best-in-column marking (including "closest to 1" for
// density), base64 for embedded images, self-containment of the HTML, and the generated
// reading naming the dominant class.
#include <gtest/gtest.h>

#include "report/report.h"
#include "report/svg.h"

using namespace trilemma::report;

namespace {

ModelRow make_row(const std::string& name, double fid, double recall, double density, double ips,
                  std::vector<double> shares) {
  ModelRow row;
  row.name = name;
  row.result = {{"fid", fid},          {"kid_mean", fid / 100},   {"precision", 0.8},
                {"density", density},  {"recall", recall},        {"coverage", recall},
                {"classes_covered", 10}, {"class_shares", shares},
                {"speed", {{"nfe", 1}, {"ms_per_image_batch1", 1000.0 / ips}, {"images_per_s_batch256", ips}}}};
  return row;
}

std::vector<double> uniform() { return std::vector<double>(10, 0.1); }

}  // namespace

TEST(Report, Base64KnownVectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode(std::string("\xff\x00\x10", 3)), "/wAQ");
}

TEST(Report, BestRowsFollowColumnDirection) {
  std::vector<ModelRow> rows = {make_row("a", 5.0, 0.4, 1.3, 100.0, uniform()),
                                make_row("b", 9.0, 0.7, 0.95, 10.0, uniform())};
  const auto best = best_rows(rows);
  const auto& columns = table_columns();
  for (size_t c = 0; c < columns.size(); ++c) {
    if (columns[c].key == "fid") EXPECT_EQ(best[c], 0);
    if (columns[c].key == "recall") EXPECT_EQ(best[c], 1);
    if (columns[c].key == "density") EXPECT_EQ(best[c], 1);  // 0.95 is closer to 1 than 1.3
    if (columns[c].key == "speed.images_per_s_batch256") EXPECT_EQ(best[c], 0);
    if (columns[c].key == "speed.ms_per_image_batch1") EXPECT_EQ(best[c], 0);
  }
}

TEST(Report, HtmlIsSelfContainedAndMarksBest) {
  ReportData data;
  data.rows = {make_row("vae <quick>", 5.0, 0.4, 1.0, 100.0, uniform()),
               make_row("ddpm", 7.0, 0.6, 1.0, 10.0, uniform())};
  data.rows[0].figures.push_back({"samples", "images/x.png", "PNGDATA"});
  data.references = {{"train", {{"fid", 0.5}, {"label", "train"}}},
                     {"single_digit", {{"fid", 200.0}, {"label", "digit 1"}}}};
  data.protocol = {{"n", 10000}, {"extractor", {{"name", "evaluator-v1"}}}};
  const std::string html = render_html(data);
  EXPECT_NE(html.find("data:image/png;base64," + base64_encode("PNGDATA")), std::string::npos);
  EXPECT_NE(html.find("vae &lt;quick&gt;"), std::string::npos);
  EXPECT_NE(html.find("class=\"best\""), std::string::npos);
  EXPECT_NE(html.find("extractor.name"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  const std::string md = render_markdown(data);
  EXPECT_NE(md.find("| **5.00** |"), std::string::npos);
  EXPECT_NE(md.find("reference: train"), std::string::npos);
}

// A long run name once ran past the three-corner chart's fixed 440 px and was cut off.
TEST(Report, CornerChartIsWideEnoughForItsLegend) {
  const Json references = {{"train", {{"fid", 0.5}}}, {"single_digit", {{"fid", 200.0}}}};
  auto svg_width = [](const std::string& svg) {
    const size_t at = svg.find("width=\"") + 7;
    return std::stod(svg.substr(at, svg.find('"', at) - at));
  };
  EXPECT_EQ(svg_width(trilemma_chart_svg({make_row("vae", 5.0, 0.4, 1.0, 100.0, uniform())}, references)), 440);
  const std::string long_name = "consistency quick (consistency-2) — runs/fashion/demo-consistency";
  const std::string svg = trilemma_chart_svg({make_row("vae", 5.0, 0.4, 1.0, 100.0, uniform()),
                                              make_row(long_name, 9.0, 0.7, 1.0, 10.0, uniform())},
                                             references);
  // The legend line: 40 px of swatch, the name and "(q 0.00, c 0.00, s 0.00)" at <= 7 px a character.
  EXPECT_GE(svg_width(svg), 40 + 7.0 * (long_name.size() + 25));
  EXPECT_NE(svg.find("viewBox=\"0 0 " + std::to_string(static_cast<int>(svg_width(svg)))), std::string::npos);
}

TEST(Report, SingleRowMarksNothing) {
  const auto best = best_rows({make_row("a", 5.0, 0.4, 1.3, 100.0, uniform())});
  for (int b : best) EXPECT_EQ(b, -1);
}

TEST(Report, ReadingNamesDominantClassAndScale) {
  std::vector<double> shares = {0.0, 0.31, 0.1, 0.1, 0.1, 0.1, 0.09, 0.1, 0.05, 0.05};
  ReportData data;
  data.rows = {make_row("DCGAN", 40.0, 0.2, 1.0, 1000.0, shares)};
  data.rows[0].result["classes_covered"] = 9;
  data.references = {{"train", {{"fid", 0.5}}}, {"single_digit", {{"fid", 200.0}}}};
  const auto lines = reading_of_results(data);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("covers 9/10 classes"), std::string::npos);
  EXPECT_NE(lines[1].find("digit 1 takes 31 %"), std::string::npos);
  EXPECT_NE(lines[1].find("digit 0 0.0 %"), std::string::npos);
}

TEST(Report, ReadingSaysWhichCornersEachRowLeads) {
  ReportData data;
  data.rows = {make_row("vae", 20.0, 0.5, 1.0, 1000.0, uniform()), make_row("ddpm", 10.0, 0.6, 1.0, 10.0, uniform()),
               make_row("ddgan", 15.0, 0.55, 1.0, 2000.0, uniform())};
  const auto lines = reading_of_results(data);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_NE(lines[lines.size() - 2].find("No single row leads all three corners"), std::string::npos);
  EXPECT_EQ(lines.back(), "Corners each row leads: vae – none; ddpm – quality, coverage; ddgan – speed.");
  // One row ahead everywhere is named as such.
  data.rows[2] = make_row("ddgan", 5.0, 0.9, 1.0, 2000.0, uniform());
  const auto all = reading_of_results(data);
  EXPECT_NE(all[all.size() - 2].find("ddgan leads all three corners"), std::string::npos);
  EXPECT_EQ(all.back(), "Corners each row leads: vae – none; ddpm – none; ddgan – quality, coverage, speed.");
}

// A zoo entry's speed comes from the machine that shipped it: the reading must say when the
// speed columns compare machines as well as models, and stay silent when they do not.
TEST(Report, ReadingSaysWhenSpeedsComeFromSeveralMachines) {
  ReportData data;
  data.rows = {make_row("quick vae", 20.0, 0.5, 1.0, 8000.0, uniform()),
               make_row("zoo:vae", 10.0, 0.6, 1.0, 3000.0, uniform()),
               make_row("quick dcgan", 15.0, 0.55, 1.0, 9000.0, uniform())};
  auto on = [&](int row, const std::string& cpu, int threads) {
    data.rows[row].result["speed"]["cpu"] = cpu;
    data.rows[row].result["speed"]["threads"] = threads;
  };
  on(0, "AMD EPYC", 2), on(1, "AMD EPYC", 2), on(2, "AMD EPYC", 2);
  EXPECT_EQ(reading_of_results(data).back().rfind("Corners each row leads", 0), 0u);  // one machine: nothing said
  on(1, "Intel Xeon", 2);
  EXPECT_EQ(reading_of_results(data).back(),
            "Speed was measured on 2 machines (AMD EPYC, 2 threads: quick vae, quick dcgan; Intel Xeon, 2 threads: "
            "zoo:vae): images/s and ms/image compare models only between rows measured on the same machine.");
  on(1, "AMD EPYC", 1);  // the same CPU with fewer threads is another machine for speed
  EXPECT_NE(reading_of_results(data).back().find("AMD EPYC, 1 thread: zoo:vae"), std::string::npos);
  data.rows[1].result["speed"].erase("cpu");  // an eval.json from before the CPU was recorded
  EXPECT_NE(reading_of_results(data).back().find("an unrecorded CPU, 1 thread: zoo:vae"), std::string::npos);
}

// A speed measured while other processes ran reads slower than the model is (the demo's own
// report once showed one network at 38 and 0.78 ms/image): the reading names those rows.
TEST(Report, ReadingNamesRowsWhoseSpeedWasMeasuredOnABusyMachine) {
  ReportData data;
  data.rows = {make_row("quick dcgan", 15.0, 0.55, 1.0, 9000.0, uniform()),
               make_row("zoo:dcgan", 4.0, 0.8, 1.0, 18000.0, uniform()),
               make_row("zoo:ddpm", 3.0, 0.9, 1.0, 20.0, uniform())};
  data.rows[0].result["speed"]["other_processes_cpu_share"] = 0.47;
  data.rows[1].result["speed"]["other_processes_cpu_share"] = 0.10;  // under a quarter: not named
  data.rows[2].result["speed"]["other_processes_cpu_share"] = 0.25;
  EXPECT_EQ(reading_of_results(data).back(),
            "Speed was measured while other processes used part of the CPUs for quick dcgan (47 %), zoo:ddpm "
            "(25 %): those rows' images/s and ms/image read slower than on an idle machine.");
  data.rows[0].result["speed"]["other_processes_cpu_share"] = 0.0;
  data.rows[2].result["speed"].erase("other_processes_cpu_share");  // an eval.json from before it was recorded
  EXPECT_EQ(reading_of_results(data).back().rfind("Corners each row leads", 0), 0u);
}

TEST(Report, CornerScoresUseReferenceScale) {
  const Json refs = {{"train", {{"fid", 1.0}}}, {"single_digit", {{"fid", 100.0}}}};
  const Json at_floor = {{"fid", 1.0}, {"coverage", 0.5}, {"speed", {{"images_per_s_batch256", 1000.0}}}};
  const auto s = corner_scores(at_floor, refs);
  EXPECT_NEAR(s.quality, 1.0, 1e-12);
  EXPECT_NEAR(s.coverage, 0.5, 1e-12);
  EXPECT_NEAR(s.speed, 0.6, 1e-12);
  EXPECT_NEAR(corner_scores({{"fid", 10.0}}, refs).quality, 0.5, 1e-12);
  EXPECT_NEAR(corner_scores({{"fid", 500.0}}, refs).quality, 0.0, 1e-12);
}

TEST(Report, ConditionalSectionHasAccuracyPerClassFidAndGuidanceCurve) {
  ReportData data;
  data.rows = {make_row("vae", 20.0, 0.5, 1.0, 1000.0, uniform()),
               make_row("ddpm-cond", 10.0, 0.6, 1.0, 10.0, uniform())};
  // Only the second row is conditional: the section lists it alone.
  Json per_class_fid = Json::array();
  for (int k = 0; k < 10; ++k) per_class_fid.push_back(10.0 + k);
  data.rows[1].result["conditional"] = {{"conditional_accuracy", 0.934},
                                        {"mean_per_class_fid", 14.5},
                                        {"per_class_fid", per_class_fid}};
  data.rows[1].result["guidance_curve"] = Json::array(
      {{{"guidance", 0.0}, {"n", 2000}, {"nfe", 20}, {"fid", 12.0}, {"precision", 0.6}, {"recall", 0.8},
        {"conditional_accuracy", 0.11}},
       {{"guidance", 5.0}, {"n", 2000}, {"nfe", 40}, {"fid", 30.0}, {"precision", 0.9}, {"recall", 0.4},
        {"conditional_accuracy", 0.99}}});
  const std::string md = render_markdown(data);
  EXPECT_NE(md.find("## Conditional generation"), std::string::npos);
  EXPECT_NE(md.find("| ddpm-cond | 0.934 | 14.50 | 10.0 |"), std::string::npos) << md;
  const std::string section = md.substr(md.find("## Conditional generation"));
  EXPECT_EQ(section.find("| vae |"), std::string::npos);  // vae has a trilemma row only
  EXPECT_NE(md.find("| 5.0 | 40 | 30.00 | 0.900 | 0.400 |"), std::string::npos) << md;
  const std::string html = render_html(data);
  EXPECT_NE(html.find("Guidance curve: ddpm-cond"), std::string::npos);
  EXPECT_NE(html.find("<polyline"), std::string::npos);
  const auto lines = reading_of_results(data);
  bool accuracy_line = false, curve_line = false;
  for (const auto& line : lines) {
    accuracy_line |= line.find("ddpm-cond: asked for a digit") != std::string::npos &&
                     line.find("93.4 %") != std::string::npos;
    curve_line |= line.find("FID from 12.00 to 30.00") != std::string::npos &&
                  line.find("recall 0.80 → 0.40") != std::string::npos;
  }
  EXPECT_TRUE(accuracy_line);
  EXPECT_TRUE(curve_line);
  // Without conditional rows there is no section.
  data.rows.pop_back();
  EXPECT_EQ(render_markdown(data).find("Conditional generation"), std::string::npos);
}

// An autoguided unconditional model's curve has no classes: its own section, without the
// conditional columns, the conditional section or a conditional-accuracy clause.
TEST(Report, AutoguidedCurveWithoutClassesHasItsOwnSection) {
  ReportData data;
  data.rows = {make_row("ddpm guided", 1.0, 0.9, 1.0, 10.0, uniform())};
  data.rows[0].result["guidance_curve"] = Json::array(
      {{{"guidance", 0.0}, {"n", 2000}, {"nfe", 20}, {"fid", 16.0}, {"precision", 0.4}, {"recall", 0.8}},
       {{"guidance", 2.0}, {"n", 2000}, {"nfe", 40}, {"fid", 0.9}, {"precision", 0.75}, {"recall", 0.89}}});
  const Table table = guidance_table(data.rows[0].result["guidance_curve"]);
  ASSERT_EQ(table.size(), 3u);
  EXPECT_EQ(table[0], (std::vector<std::string>{"w", "NFE", "FID", "precision", "recall", "coverage"}));
  EXPECT_EQ(table[2], (std::vector<std::string>{"2.0", "40", "0.90", "0.750", "0.890", "–"}));
  const std::string md = render_markdown(data);
  EXPECT_EQ(md.find("Conditional generation"), std::string::npos);
  EXPECT_NE(md.find("## Guidance curves"), std::string::npos) << md;
  EXPECT_NE(md.find("| 2.0 | 40 | 0.90 | 0.750 | 0.890 | – |"), std::string::npos) << md;
  const std::string svg = guidance_curve_svg(data.rows[0].result["guidance_curve"], "t");
  EXPECT_EQ(svg.find("conditional accuracy"), std::string::npos);  // no empty series in the legend
  bool curve_line = false;
  for (const auto& line : reading_of_results(data))
    if (line.find("ddpm guided: raising guidance from w = 0.0 to 2.0 takes FID from 16.00 to 0.90") !=
        std::string::npos) {
      curve_line = true;
      EXPECT_EQ(line.find("conditional accuracy"), std::string::npos) << line;
    }
  EXPECT_TRUE(curve_line);
}

TEST(Report, HumanColumnAndSectionOnlyWithAStudy) {
  ReportData data;
  data.rows = {make_row("ddpm", 5.0, 0.4, 1.0, 100.0, uniform()), make_row("vae", 9.0, 0.7, 1.0, 10.0, uniform())};
  EXPECT_EQ(render_markdown(data).find("HYPE"), std::string::npos) << "no study, no human column";
  EXPECT_EQ(table_columns(data.rows).size(), table_columns().size());
  data.rows[0].result["human"] = {{"hype", 0.231}, {"ci95", {0.156, 0.312}}, {"fakes_judged_real", 0.425},
                                  {"reals_judged_fake", 0.04}, {"fake_judgements", 40}, {"real_judgements", 80},
                                  {"raters", 1}};
  data.rows[1].result["human"] = {{"hype", 0.1}, {"ci95", {0.05, 0.15}}};
  const auto columns = table_columns(data.rows);
  ASSERT_EQ(columns.size(), table_columns().size() + 1);
  EXPECT_EQ(columns.back().key, "human.hype");
  EXPECT_EQ(best_rows(data.rows).back(), 0) << "the higher error rate (harder to tell from real) is better";
  const std::string md = render_markdown(data);
  EXPECT_NE(md.find("| **0.231** |"), std::string::npos);
  EXPECT_NE(md.find("## Human evaluation"), std::string::npos);
  EXPECT_NE(md.find("| ddpm | 0.231 | 0.156 – 0.312 | 0.425 | 0.040 | 40 / 80 | 1 |"), std::string::npos) << md;
  const std::string html = render_html(data);
  EXPECT_NE(html.find("<th colspan=\"1\">Human</th>"), std::string::npos);
  EXPECT_NE(html.find("<th colspan=\"4\">Quality</th>"), std::string::npos);
}

TEST(Report, AnotherDatasetIsNamedWithItsClasses) {
  const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  std::vector<double> shares = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.02, 0.18, 0.1, 0.1};
  ReportData data;
  data.rows = {make_row("VAE", 30.0, 0.5, 1.0, 1000.0, shares)};
  data.dataset = {{"name", "fashion-mnist"}, {"title", "Fashion-MNIST"}, {"class_names", names}};
  data.references = {{"train", {{"fid", 0.5}}}, {"single_digit", {{"fid", 90.0}}}};
  const std::string reading = [&] {
    std::string all;
    for (const auto& line : reading_of_results(data)) all += line + "\n";
    return all;
  }();
  EXPECT_NE(reading.find("class 'Sneaker' takes 18 % of its samples, class 'Shirt' 2.0 %"), std::string::npos)
      << reading;
  EXPECT_NE(reading.find("a single class score"), std::string::npos) << reading;
  const std::string html = render_html(data);
  EXPECT_NE(html.find("Fashion-MNIST classes: 0 = T-shirt/top, 1 = Trouser"), std::string::npos);
  EXPECT_NE(html.find("own Fashion-MNIST classifier"), std::string::npos);
  EXPECT_NE(html.find("between the one-class reference (0)"), std::string::npos);
  // MNIST (no dataset recorded, as in every report before datasets) still reads in digits.
  data.dataset = nullptr;
  const std::string mnist = reading_of_results(data)[1];
  EXPECT_NE(mnist.find("digit 7 takes 18 % of its samples, digit 6 2.0 %"), std::string::npos) << mnist;
  EXPECT_EQ(render_html(data).find("classes: 0 ="), std::string::npos);
  EXPECT_NE(render_html(data).find("between the one-digit reference (0)"), std::string::npos);
}
