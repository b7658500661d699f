#pragma once
// The comparison report of `trilemma compare`: the trilemma table, the reference rows,
// charts, sample grids and the protocol, as Markdown and as one self-contained HTML file
// (images embedded as data URIs, charts as inline SVG: it opens offline and can be mailed).
// Pure functions from data to text; the command gathers the data.
//
// This header gathers the pieces, one concern each: the data (report_data.h), what both
// formats show (content.h), the sentences that read it (reading.h), the charts (svg.h),
// escaping for the web (encoding.h) and the two renderers (markdown.h, html.h).
#include "report/content.h"
#include "report/encoding.h"
#include "report/html.h"
#include "report/markdown.h"
#include "report/reading.h"
#include "report/report_data.h"
#include "report/svg.h"
