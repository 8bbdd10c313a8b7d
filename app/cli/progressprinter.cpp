#include "progressprinter.h"

#include <QLocale>

#include <algorithm>
#include <cmath>
#include <unistd.h>

namespace Sluice::Cli {

ProgressPrinter::ProgressPrinter(std::FILE *stream, double intervalS, bool quiet)
    : m_stream(stream)
    , m_tty(isatty(fileno(stream)) != 0)
    , m_quiet(quiet)
    , m_intervalMs(intervalS > 0 ? intervalS * 1000.0 : (m_tty ? 200.0 : 5000.0))
{
}

QString ProgressPrinter::formatCount(qint64 n)
{
    return QLocale(QLocale::English).toString(n);
}

namespace {

QString duration(double seconds)
{
    if (!std::isfinite(seconds) || seconds < 0) {
        return QStringLiteral("?");
    }
    const qint64 s = qint64(std::llround(seconds));
    if (s < 60) {
        return QStringLiteral("%1s").arg(s);
    }
    if (s < 3600) {
        return QStringLiteral("%1m%2s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    }
    return QStringLiteral("%1h%2m").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
}

} // namespace

QString ProgressPrinter::progressLine(const MetricsSnapshot &s, int barWidth)
{
    const qint64 total = std::max(s.estimatedLines, s.linesRead);
    const double fraction = total > 0 ? std::clamp(double(s.doneInAll()) / double(total), 0.0, 1.0) : 0.0;
    QString line;
    if (barWidth > 0) {
        const int filled = int(std::lround(fraction * barWidth));
        line += QLatin1Char('[') + QString(filled, QLatin1Char('#')) +
                QString(barWidth - filled, QLatin1Char('.')) + QStringLiteral("] ");
    }
    const double remaining = double(total - s.doneInAll());
    const double rate = s.currentRps > 0 ? s.currentRps : s.averageRps;
    line += QStringLiteral("%1% %2/%3 | %4 req/s | ok %5 err %6 | 429 %7 | in flight %8 | ETA %9")
                .arg(fraction * 100.0, 0, 'f', 1)
                .arg(formatCount(s.doneInAll()), formatCount(total), QString::number(rate, 'f', 0),
                     formatCount(s.resumedSucceeded + s.succeeded), formatCount(s.resumedFailed + s.failed),
                     formatCount(s.rateLimited), formatCount(s.inFlight),
                     rate > 0 ? duration(remaining / rate) : QStringLiteral("?"));
    if (s.state == RunState::Paused || s.state == RunState::Stopping) {
        line += QStringLiteral(" | ") + toString(s.state);
    }
    if (s.shared.enabled) {
        line += QStringLiteral(" | redis %1, %2 procs").arg(s.shared.state).arg(s.shared.processes);
    }
    if (s.cost.pricedReplies > 0 || s.cost.limited) {
        line += QStringLiteral(" | ") + costText(s.cost);
    }
    return line;
}

QString ProgressPrinter::costText(const CostStats &c)
{
    QString text = QStringLiteral("$%1 spent").arg(c.spentUsd, 0, 'f', 4);
    if (c.earlierUsd > 0) {
        text += QStringLiteral(" (+ $%1 before the resume)").arg(c.earlierUsd, 0, 'f', 4);
    }
    if (c.reservedUsd > 0) {
        text += QStringLiteral(" + $%1 in flight").arg(c.reservedUsd, 0, 'f', 4);
    }
    if (c.budgetUsd > 0) {
        text += QStringLiteral(" of $%1 (%2%)")
                    .arg(c.budgetUsd, 0, 'f', 2)
                    .arg(c.budgetShare() * 100.0, 0, 'f', 0);
    }
    if (c.unpricedReplies > 0) {
        text += QStringLiteral(", %1 unpriced replies").arg(formatCount(c.unpricedReplies));
    }
    return text;
}

void ProgressPrinter::update(const MetricsSnapshot &s)
{
    if (m_quiet || s.elapsedMs - m_lastPrintMs < m_intervalMs) {
        return;
    }
    m_lastPrintMs = s.elapsedMs;
    if (m_tty) {
        std::fprintf(m_stream, "\r\033[K%s", qPrintable(progressLine(s, 30)));
        m_barShown = true;
    } else {
        std::fprintf(m_stream, "[%s] %s\n", qPrintable(duration(s.elapsedMs / 1000.0)),
                     qPrintable(progressLine(s, 0)));
    }
    std::fflush(m_stream);
}

void ProgressPrinter::clearBar()
{
    if (m_barShown) {
        std::fprintf(m_stream, "\r\033[K");
        m_barShown = false;
    }
}

void ProgressPrinter::message(const QString &text)
{
    clearBar();
    std::fprintf(m_stream, "%s\n", qPrintable(text));
    std::fflush(m_stream);
}

void ProgressPrinter::printSummary(const MetricsSnapshot &s, const QString &resultsPath,
                                   const QString &errorsPath)
{
    clearBar();
    QString out;
    const auto line = [&out](const QString &text) {
        out += text + QLatin1Char('\n');
    };
    line(QStringLiteral("Sluice run %1 in %2")
             .arg(s.notStarted > 0 ? QStringLiteral("stopped") : QStringLiteral("finished"),
                  duration(s.elapsedMs / 1000.0)));
    QString failures;
    for (auto it = s.errorsByClass.cbegin(); it != s.errorsByClass.cend(); ++it) {
        failures += (failures.isEmpty() ? QString() : QStringLiteral(", ")) + it.key() + QLatin1Char(' ') +
                    formatCount(it.value());
    }
    line(QStringLiteral("  lines      %1: %2 succeeded, %3 failed%4%5")
             .arg(formatCount(std::max(s.linesRead, s.doneInAll() + s.notStarted)), formatCount(s.succeeded),
                  formatCount(s.failed),
                  failures.isEmpty() ? QString() : QStringLiteral(" (") + failures + QLatin1Char(')'),
                  s.notStarted > 0 ? QStringLiteral(", %1 not started").arg(formatCount(s.notStarted))
                                   : QString()));
    if (s.resumedSucceeded + s.resumedFailed > 0) {
        line(QStringLiteral(
                 "  resumed    %1 lines had records from earlier sessions (%2 succeeded, %3 failed);"
                 " in all %4 succeeded, %5 failed")
                 .arg(formatCount(s.resumedSucceeded + s.resumedFailed), formatCount(s.resumedSucceeded),
                      formatCount(s.resumedFailed), formatCount(s.resumedSucceeded + s.succeeded),
                      formatCount(s.resumedFailed + s.failed)));
    }
    line(QStringLiteral(
             "  attempts   %1 (%2 retries), %3 answered 429, %4 waited for a budget or a free connection")
             .arg(formatCount(s.issued), formatCount(s.retries), formatCount(s.rateLimited),
                  formatCount(s.overflow)));
    line(QStringLiteral("  throughput %1 requests/s; latency p50 %2 ms, p90 %3 ms, p99 %4 ms")
             .arg(QString::number(s.averageRps, 'f', 1), QString::number(s.p50Ms, 'f', 0),
                  QString::number(s.p90Ms, 'f', 0), QString::number(s.p99Ms, 'f', 0)));
    line(QStringLiteral("  tokens     %1 in, %2 out")
             .arg(formatCount(s.inputTokens), formatCount(s.outputTokens)));
    if (s.cost.pricedReplies + s.cost.unpricedReplies > 0 || s.cost.limited) {
        line(QStringLiteral("  cost       %1%2")
                 .arg(costText(s.cost),
                      s.elapsedMs > 0
                          ? QStringLiteral(", $%1/s").arg(s.cost.spentUsd * 1000.0 / s.elapsedMs, 0, 'f', 6)
                          : QString()));
    }
    int nameWidth = 8;
    for (const EndpointStats &e : s.endpoints) {
        nameWidth = std::max(nameWidth, int(e.name.size()));
    }
    line(QStringLiteral("  %1 %2 %3 %4 %5 %6 %7 %8 %9  %10")
             .arg(QStringLiteral("endpoint"), -nameWidth)
             .arg(QStringLiteral("weight"), 7)
             .arg(QStringLiteral("sent"), 9)
             .arg(QStringLiteral("ok"), 9)
             .arg(QStringLiteral("429"), 7)
             .arg(QStringLiteral("errors"), 7)
             .arg(QStringLiteral("p50 ms"), 7)
             .arg(QStringLiteral("p99 ms"), 7)
             .arg(QStringLiteral("cost $"), 10)
             .arg(QStringLiteral("state, limit")));
    for (const EndpointStats &e : s.endpoints) {
        const QString limit =
            e.limitRps > 0 ? QStringLiteral("%1/s (%2)").arg(e.limitRps, 0, 'f', 1).arg(e.limitReasonText())
            : e.limitReason == LimitReason::Unlimited
                ? QStringLiteral("no limit")
                : QStringLiteral("no request limit (%1)").arg(e.limitReasonText());
        line(QStringLiteral("  %1 %2 %3 %4 %5 %6 %7 %8 %9  %10")
                 .arg(e.name, -nameWidth)
                 .arg(QString::number(e.weight, 'g', 4), 7)
                 .arg(formatCount(e.sent), 9)
                 .arg(formatCount(e.ok), 9)
                 .arg(formatCount(e.rateLimited), 7)
                 .arg(formatCount(e.errors), 7)
                 .arg(QString::number(e.p50Ms, 'f', 0), 7)
                 .arg(QString::number(e.p99Ms, 'f', 0), 7)
                 .arg(QString::number(e.costSpentUsd, 'f', 4), 10)
                 .arg(e.stateText() + QStringLiteral(", ") + limit));
    }
    if (s.shared.enabled) {
        line(QStringLiteral(
                 "  shared     namespace %1 (%2): %3, %4 processes; %5 leases (p50 %6 ms), %7 of %8 "
                 "permits used; Redis down %9 s")
                 .arg(s.shared.nameSpace, s.shared.onRedisDown, s.shared.state)
                 .arg(s.shared.processes)
                 .arg(formatCount(s.shared.leases), QString::number(s.shared.leaseRttP50Ms, 'f', 2),
                      formatCount(s.shared.permitsUsed), formatCount(s.shared.permitsGranted),
                      QString::number(s.shared.downMs / 1000.0, 'f', 1)));
    }
    line(QStringLiteral("  results    %1 (%2 lines)").arg(resultsPath, formatCount(s.succeeded)));
    line(QStringLiteral("  errors     %1 (%2 lines)").arg(errorsPath, formatCount(s.failed)));
    std::fputs(qPrintable(out), m_stream);
    std::fflush(m_stream);
}

} // namespace Sluice::Cli
