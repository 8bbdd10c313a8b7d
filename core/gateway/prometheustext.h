#pragma once

#include "metrics/metrics.h"

#include <QByteArray>
#include <QList>
#include <QMap>
#include <QString>

#include <array>

namespace Sluice {

/// The gateway's own caller counters (besides the engine's MetricsSnapshot).
struct GatewayCounters
{
    qint64 accepted = 0;         ///< requests queued for the engine
    qint64 answered = 0;         ///< callers answered with an upstream reply or a final error
    qint64 queueFull = 0;        ///< refused at once: 429, the queue was full
    qint64 invalid = 0;          ///< refused at once: 400/404/405/413 (never queued)
    qint64 deadlineQueued = 0;   ///< 504: the caller's deadline passed while its request waited (never sent)
    qint64 deadlineSent = 0;     ///< 504: the deadline passed while the engine held it (sent, retrying, held)
    qint64 goneQueued = 0;       ///< callers that left while their request waited: never sent
    qint64 goneLater = 0;        ///< callers that left after the engine took their request
    qint64 stopped = 0;          ///< 503: the gateway stopped while they waited
    qint64 budgetExhausted = 0;  ///< 429 budget_exhausted: the gateway's or the caller key's budget is spent
    qint64 waiting = 0;          ///< callers waiting for an answer now
    qint64 streamsActive = 0;    ///< streaming callers whose events are flowing now (answer begun)
    qint64 streamsCompleted = 0; ///< streamed answers that ended with [DONE] / message_stop
    qint64 streamsFailed = 0;    ///< streamed answers ended by an error event after they had begun
    qint64 streamsGone = 0;      ///< streamed answers whose caller left before the end
};

/// Durations in a Prometheus histogram: fixed bucket bounds in seconds, counts per bucket, sum, count.
struct DurationHistogram
{
    static constexpr std::array<double, 14> Bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                      1,     2.5,  5,     10,   30,  60,   120};
    std::array<qint64, Bounds.size()> counts{}; ///< per bucket (not cumulative); beyond the last: count - sum
    double sumS = 0;
    qint64 count = 0;

    void observe(double seconds);
};

/// The gateway's own figures besides the engine's snapshot.
struct GatewayMetrics
{
    GatewayCounters callers;
    int maxQueue = 0;
    DurationHistogram callerDuration;                  ///< accepted -> answered, as the caller saw it
    QMap<QString, DurationHistogram> upstreamDuration; ///< successful upstream attempts, by endpoint
    QMap<QString, DurationHistogram> ttft;             ///< streamed successes' time to first token
    struct Key
    {
        QString name;
        qint64 admitted = 0;
        qint64 rateLimited = 0;
        qint64 budgetRefused = 0;
        double spentUsd = 0;
        double budgetUsd = 0; ///< 0: none
    };
    QList<Key> keys; ///< caller keys (names only), when the project lists any
    qint64 authMissing = 0;
    qint64 authUnknown = 0;
};

/// Renders counters in the Prometheus text exposition format (version 0.0.4), from the same
/// MetricsSnapshot the GUI charts. Metric names (all prefixed `sluice_`) are listed in the README;
/// `promtool check metrics` finds nothing to say about them (durations are `_seconds` histograms).
class PrometheusText
{
public:
    static QByteArray render(const MetricsSnapshot &snapshot, const GatewayMetrics &gateway);
    /// A label value escaped as the format requires (backslash, double quote, newline).
    static QByteArray escapeLabel(const QString &value);
};

} // namespace Sluice
