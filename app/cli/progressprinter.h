#pragma once

#include "metrics/metrics.h"

#include <QString>

#include <cstdio>

namespace Sluice::Cli {

/// Writes run progress to stderr: a one-line live bar redrawn in place on a terminal, plain periodic
/// lines otherwise (logs, CI), and the final human summary.
class ProgressPrinter
{
public:
    /// `intervalS` 0 = automatic: redraw every 0.2 s on a TTY, a line every 5 s otherwise.
    ProgressPrinter(std::FILE *stream, double intervalS, bool quiet);

    void update(const MetricsSnapshot &snapshot);
    /// Clears the bar (if any) and prints the summary table.
    void printSummary(const MetricsSnapshot &summary, const QString &resultsPath, const QString &errorsPath);
    void message(const QString &text);

    static QString formatCount(qint64 n);
    static QString progressLine(const MetricsSnapshot &s, int barWidth);
    /// "$0.0123 spent + $0.0040 in flight of $1.00 (2%)": spend, committed and budget for the operator.
    static QString costText(const CostStats &cost);

private:
    void clearBar();

    std::FILE *m_stream;
    bool m_tty;
    bool m_quiet;
    double m_intervalMs;
    double m_lastPrintMs = -1e18;
    bool m_barShown = false;
};

} // namespace Sluice::Cli
