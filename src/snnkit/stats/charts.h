// snnkit/stats/charts.h: the two chart kinds the report draws (lines over x, clustered bars per
// category), rendered to PNG by gnuplot's pngcairo terminal. Each PNG is written atomically (to a
// temporary name in the same directory, then renamed).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace snnkit {

struct chart_style {
    /// the plotting program
    std::string gnuplot = "gnuplot";
    /// width of one panel in pixels
    int width = 720;
    /// height in pixels
    int height = 480;
};

struct series {
    /// legend entry
    std::string title;
    /// x values (lines); unused for bars
    std::vector<double> x;
    /// y values; NaN = missing
    std::vector<double> y;
    /// dashed line
    bool dashed = false;
};

struct line_panel {
    std::string title, xlabel, ylabel;
    std::vector<series> lines;
    /// horizontal reference lines: (legend entry, y)
    std::vector<std::pair<std::string, double>> levels;
    /// legend position in gnuplot's words ("bottom right", "top right", ...; "outside ..." widens the chart)
    std::string key = "bottom right";
    /// logarithmic y axis
    bool log_y = false;
    /// logarithmic x axis with a tic at every power of two (time steps T = 1, 2, 4, ...)
    bool log2_x = false;
};

struct bar_panel {
    std::string title, ylabel;
    /// the x categories (layer names)
    std::vector<std::string> categories;
    /// one bar per category in each group (runs, or measured quantities); y[i] belongs to categories[i]
    std::vector<series> groups;
    bool log_y = false;
};

// Draws the panels side by side into one PNG at `png`.
void plot_lines(const std::vector<line_panel> & panels, const std::string & png, const chart_style & style);

// Draws a clustered bar chart into one PNG at `png`.
void plot_bars(const bar_panel & panel, const std::string & png, const chart_style & style);

} // namespace snnkit
