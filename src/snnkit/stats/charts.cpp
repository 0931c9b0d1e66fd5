// snnkit/stats/charts.cpp: gnuplot scripts for the report's charts.
#include "snnkit/stats/charts.h"

#include "snnkit/core/error.h"
#include "snnkit/stats/gnuplot.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

namespace snnkit {

namespace {

std::string num(double v) {
    if (!std::isfinite(v)) {
        return "?";
    }
    char b[40];
    std::snprintf(b, sizeof b, "%.10g", v);
    return b;
}

// Runs the script body with a pngcairo terminal writing a temporary file next to `png`, then renames
// it into place: a reader sees the old chart or the new one.
void render(const std::string & body, const std::string & png, const chart_style & style, int width) {
    const std::string tmp = png + ".tmp";
    std::string script = "set terminal pngcairo size " + std::to_string(width) + "," +
                         std::to_string(style.height) + " noenhanced font 'Sans,11'\n" + "set output " + gp_quote(tmp) +
                         "\nset encoding utf8\n" + body;
    try {
        run_gnuplot(style.gnuplot, script, png);
    } catch (...) {
        std::error_code ec;
        std::filesystem::remove(tmp, ec);
        throw;
    }
    std::error_code ec;
    std::filesystem::rename(tmp, png, ec);
    if (ec) {
        fail(png, "cannot move the chart into place: " + ec.message());
    }
}

bool small_integer_axis(const std::vector<series> & lines) {
    double lo = INFINITY, hi = -INFINITY;
    for (const auto & s : lines) {
        for (double x : s.x) {
            if (x != std::floor(x)) {
                return false;
            }
            lo = std::min(lo, x);
            hi = std::max(hi, x);
        }
    }
    return hi - lo <= 16;
}

// Smallest positive y of the series (infinity when none).
double min_positive(const std::vector<series> & ss) {
    double m = INFINITY;
    for (const auto & s : ss) {
        for (double y : s.y) {
            m = y > 0 && y < m ? y : m;
        }
    }
    return m;
}

// Log axes of counts read best with SI prefixes (10k, 1M); below 1 the prefixes would be milli, micro.
std::string axes(const std::string & title, const std::string & xlabel, const std::string & ylabel, bool log_y,
                 double min_y) {
    std::string s = "set title " + gp_quote(title) + "\nset xlabel " + gp_quote(xlabel) + "\nset ylabel " +
                    gp_quote(ylabel) + "\nset grid\n";
    s += log_y ? "set logscale y\n" : "unset logscale y\n";
    s += log_y && min_y >= 1 ? "set format y '%.0s%c'\n" : "set format y '%g'\n";
    return s;
}

} // namespace

void plot_lines(const std::vector<line_panel> & panels, const std::string & png, const chart_style & style) {
    std::string data, body;
    const int np = static_cast<int>(panels.size());
    if (np > 1) {
        body += "set multiplot layout 1," + std::to_string(np) + "\n";
    }
    for (int p = 0; p < np; ++p) {
        const line_panel & panel = panels[p];
        std::vector<std::string> plots;
        for (size_t i = 0; i < panel.lines.size(); ++i) {
            const series & s = panel.lines[i];
            std::vector<std::vector<std::string>> rows;
            for (size_t k = 0; k < s.x.size() && k < s.y.size(); ++k) {
                if (std::isfinite(s.y[k]) && (!panel.log_y || s.y[k] > 0)) {
                    rows.push_back({num(s.x[k]), num(s.y[k])});
                }
            }
            if (rows.empty()) {
                continue;
            }
            const std::string name = "p" + std::to_string(p) + "s" + std::to_string(i);
            data += gp_datablock(name, rows);
            plots.push_back("$" + name + " using 1:2 with linespoints lw 2 pt 7 ps 0.7" + (s.dashed ? " dt 2" : "") +
                            " title " + gp_quote(s.title));
        }
        for (const auto & lv : panel.levels) {
            plots.push_back(num(lv.second) + " with lines lw 2 dt 3 lc rgb '#333333' title " + gp_quote(lv.first));
        }
        if (plots.empty()) {
            fail(png, "panel '" + panel.title + "' has no data to draw");
        }
        body += axes(panel.title, panel.xlabel, panel.ylabel, panel.log_y, min_positive(panel.lines));
        body += "set key " + panel.key + " box opaque\n";
        if (panel.log2_x) {
            body += "set logscale x 2\nset xtics 2\n";
        } else {
            body += "unset logscale x\n";
            body += small_integer_axis(panel.lines) ? "set xtics 1\n" : "set xtics autofreq\n";
        }
        std::string cmd = "plot ";
        for (size_t i = 0; i < plots.size(); ++i) {
            cmd += (i ? ", \\\n     " : "") + plots[i];
        }
        body += cmd + "\n";
    }
    if (np > 1) {
        body += "unset multiplot\n";
    }
    int width = style.width * std::max(np, 1);
    for (const auto & panel : panels) {
        width += panel.key.find("outside") != std::string::npos ? style.width / 3 : 0; // room for the legend
    }
    render(data + body, png, style, width);
}

void plot_bars(const bar_panel & panel, const std::string & png, const chart_style & style) {
    if (panel.categories.empty() || panel.groups.empty()) {
        fail(png, "bar chart '" + panel.title + "' has no data to draw");
    }
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> head{"category"};
    for (const auto & g : panel.groups) {
        head.push_back(g.title);
    }
    rows.push_back(head);
    for (size_t c = 0; c < panel.categories.size(); ++c) {
        std::vector<std::string> row{panel.categories[c]};
        for (const auto & g : panel.groups) {
            const double v = c < g.y.size() ? g.y[c] : NAN;
            row.push_back(panel.log_y && !(v > 0) ? "?" : num(v));
        }
        rows.push_back(row);
    }
    std::string body = gp_datablock("bars", rows);
    body += axes(panel.title, "", panel.ylabel, panel.log_y, min_positive(panel.groups));
    body += panel.log_y ? "" : "set yrange [0:*]\n";
    const size_t nc = panel.categories.size(), ng = panel.groups.size();
    body += "set style data histograms\nset style histogram clustered gap 1\n"
            "set style fill solid 0.85 border -1\nset datafile missing '?'\nset key below box\nunset xlabel\n";
    body += nc > 6 ? "set xtics rotate by 45 right scale 0 nomirror\n" : "set xtics norotate scale 0 nomirror\n";
    body += "plot for [i=2:" + std::to_string(ng + 1) + "] $bars using i:xtic(1) title columnheader(i)\n";
    // wide enough for every bar: about 18 px per bar and a gap per category
    const int width = static_cast<int>(std::min<size_t>(2400, std::max<size_t>(style.width, nc * (ng + 1) * 18 + 160)));
    render(body, png, style, width);
}

} // namespace snnkit
