#pragma once
// The model zoo: trained sampling networks shipped with trilemma, so that a user samples
// and compares converged models without training. An entry is a folder <zoo>/<name>/:
//   model.pt    the sampling networks only (GenerativeModel::sampling_networks), floats
//               stored as float16 to halve the bytes
//   zoo.json    format version, family, preset, every setting, step, the file's bytes and
//               CRC-32, and how it was trained (command, wall time, machine)
//   eval.json   the entry's own evaluation (written by `trilemma zoo add`), for `compare`
//   images/     the evaluated samples' grid
// Commands name an entry as "zoo:<name>" wherever they take a run directory.
#include <string>
#include <vector>

#include "training/run_dir.h"

namespace trilemma::training {

constexpr int kZooFormatVersion = 1;

/// Where the zoo lives: $TRILEMMA_ZOO_DIR when set, else the zoo/ folder of the source tree
/// this binary was built from.
std::string zoo_directory();

/// Whether a command's run argument names a zoo entry ("zoo:NAME").
bool is_zoo_name(const std::string& run_argument);

/// "zoo:NAME" -> the entry's folder; UserError listing the entries when there is no NAME.
std::string zoo_entry_dir(const std::string& run_argument);

/// The folder a command's run argument names: a zoo entry's for "zoo:NAME" (UserError as
/// zoo_entry_dir), else the argument itself.
std::string run_folder(const std::string& run_argument);

/// A zoo entry's zoo.json, read and checked (format version, family, bytes, crc32).
struct ZooEntry {
  std::string name;
  std::string dir;
  Json manifest;
};

/// "zoo:NAME"'s entry, its zoo.json read and checked (UserError as zoo_entry_dir).
ZooEntry read_zoo_entry(const std::string& run_argument);

/// Every entry of the zoo folder, by name; an unreadable entry is a UserError naming it.
std::vector<ZooEntry> list_zoo(const std::string& zoo_dir);

/// Writes the run's sampling networks as entry <zoo_dir>/<name> (model.pt, zoo.json),
/// replacing an entry of that name. `training` records how the run was trained (command,
/// wall time, machine) verbatim in zoo.json. Returns the entry's folder.
std::string export_to_zoo(LoadedRun& run, const std::string& name, const std::string& zoo_dir,
                          const Json& training);

/// Loads "zoo:NAME" (its size and CRC verified first) as a run that samples and evaluates
/// but cannot be resumed; read_only is set, so that commands write nothing into the zoo.
LoadedRun load_zoo_model(const std::string& run_argument, torch::Device device, bool with_guide = true);

/// The entries whose zoo.json names zoo:NAME as their autoguidance guide.
std::vector<std::string> entries_guided_by(const std::string& name, const std::string& zoo_dir);

/// A zoo entry's eval.json (as metrics::read_eval_file). Entries shipped before eval.json
/// recorded the CPU of its speed measurements get it from zoo.json: `zoo add` evaluates on
/// the machine that exports.
Json read_zoo_evaluation(const std::string& run_argument);

/// How a run was trained, for zoo.json: the command that reproduces its settings (the
/// preset plus a flag per setting that departs from it), its wall time from creation to
/// the newest checkpoint, its environment and the CPU's name.
Json training_record(const LoadedRun& run);

/// The `trilemma train` (or `distill`) command that reproduces the run's settings: its
/// preset plus a flag per setting that departs from it.
std::string training_command(const LoadedRun& run);

}  // namespace trilemma::training
