// snnkit/stats/gnuplot.h: drawing charts by running gnuplot (Debian: gnuplot-nox) on a generated script.
#pragma once

#include <string>
#include <vector>

namespace snnkit {

// Whether `program` can be run: a path to an executable file, or a name found on PATH.
bool program_available(const std::string & program);

// Runs `program` on the script text (written to a temporary file). Throws snnkit::error naming `where`
// with gnuplot's first error line when it fails, or saying how to install it when it is missing.
void run_gnuplot(const std::string & program, const std::string & script, const std::string & where);

// A gnuplot string literal: single-quoted, inner quotes doubled.
std::string gp_quote(const std::string & text);

// A named inline data block ("$name << EOD ... EOD") from rows of already formatted fields; fields
// are written double-quoted when they are not numbers, "?" stands for a missing value.
std::string gp_datablock(const std::string & name, const std::vector<std::vector<std::string>> & rows);

} // namespace snnkit
