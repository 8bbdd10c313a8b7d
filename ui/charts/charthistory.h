#pragma once

#include "metrics/metrics.h"

#include <QList>
#include <QPointF>
#include <QStringList>

#include <array>
#include <vector>

namespace Sluice::Gui {

/// What the charts draw, second by second, for the whole run: the engine's per-second samples
/// (SecondSample) and what the window derives from the differences between consecutive snapshots:
/// failed attempts by error class and each endpoint's sends, 429s, errors and mean latency. Plain
/// data (no Qt Charts); GUI thread only. Memory grows by about 100 bytes a second plus 20 per endpoint.
class ChartHistory
{
public:
    /// The attempt error classes other than 429 ("rate_limited", which SecondSample::exceptions counts).
    static constexpr int ClassCount = 6;
    static const std::array<const char *, ClassCount> &classNames();

    /// A value to plot for each second.
    enum class Metric {
        Issued,          ///< attempts sent
        Finished,        ///< requests that reached their record
        HeldBackPercent, ///< share of the second's sends that had waited for a limit or a connection
        RateLimited,     ///< 429 answers
        Errors,          ///< failed attempts other than 429, all classes
        ClassErrors,     ///< failed attempts of class classNames()[index]
        RequestsPerSecond,
        TokensPerSecond,
        P50,
        P90,
        P99,
        EndpointSent, ///< of endpoint `index`
        EndpointRateLimited,
        EndpointErrors,
        EndpointLatency, ///< mean latency of its successes in that second (ms)
        TtftP50,         ///< time to first token of the streams that finished in the second (ms)
        TtftP90,
        TtftP99,
        ItlP50, ///< gaps between their content events (ms)
        ItlP99,
        StreamTokensPerSecond, ///< output tokens of the streams that finished in the second
        StreamsPerSecond,      ///< streams that finished in the second
        EndpointTtft,          ///< mean time to first token of endpoint `index`'s streams (ms)
    };
    struct MetricId
    {
        Metric metric = Metric::Issued;
        int index = 0;
    };

    /// Takes a snapshot: its whole seconds (`recent`) and the differences of its cumulative counters
    /// since the previous one, spread over the seconds between the two.
    void addSnapshot(const Sluice::MetricsSnapshot &snapshot);
    /// Replaces everything with a recorded history (no per-class or per-endpoint data).
    void setHistory(const std::vector<Sluice::SecondSample> &history);
    void clear();

    bool isEmpty() const { return m_seconds.empty(); }
    /// The last whole second seen, -1 when none.
    qint64 lastSecond() const { return m_seconds.empty() ? -1 : m_seconds.back().second; }
    const QStringList &endpointNames() const { return m_endpointNames; }
    /// True when failed attempts are known by class (live data); false for a recorded history.
    bool hasClassData() const { return !m_derived.empty(); }

    /// The points of `metric` over the last `spanSeconds` (≤ 0: the whole run), bucket-averaged (x and
    /// y) down to at most `maxPoints`. Seconds where the value is undefined (no success for a latency,
    /// no send for a share) have no point.
    QList<QPointF> points(MetricId metric, double spanSeconds, int maxPoints) const;

private:
    struct EndpointSecond
    {
        float sent = 0, ok = 0, rateLimited = 0, errors = 0, latencySumMs = 0, ttfts = 0, ttftSumMs = 0;
    };
    struct Derived
    {
        std::array<float, ClassCount> classErrors{};
        std::vector<EndpointSecond> endpoints;
    };

    void merge(const Sluice::SecondSample &sample);
    bool valueAt(MetricId metric, std::size_t index, double *value) const;

    std::vector<Sluice::SecondSample> m_seconds; ///< sorted by `second`, one entry per second
    std::vector<Derived> m_derived;              ///< indexed by second
    QStringList m_endpointNames;
    bool m_havePrevious = false;
    double m_previousMs = 0;
    QMap<QString, qint64> m_previousClasses;
    QList<Sluice::EndpointStats> m_previousEndpoints;
};

} // namespace Sluice::Gui
