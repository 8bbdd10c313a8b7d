#include "charthistory.h"

#include <algorithm>
#include <cmath>

namespace Sluice::Gui {

const std::array<const char *, ChartHistory::ClassCount> &ChartHistory::classNames()
{
    static const std::array<const char *, ClassCount> names = {"server",     "transport", "timeout",
                                                               "overloaded", "client",    "quota"};
    return names;
}

void ChartHistory::merge(const SecondSample &sample)
{
    if (m_seconds.empty() || sample.second > m_seconds.back().second) {
        m_seconds.push_back(sample);
        return;
    }
    // Later snapshots restate the last seconds with final counts: overwrite in place.
    auto it = std::lower_bound(m_seconds.begin(), m_seconds.end(), sample.second,
                               [](const SecondSample &s, qint64 second) { return s.second < second; });
    if (it != m_seconds.end() && it->second == sample.second) {
        *it = sample;
    } else {
        m_seconds.insert(it, sample);
    }
}

void ChartHistory::addSnapshot(const MetricsSnapshot &snapshot)
{
    for (const SecondSample &sample : snapshot.recent) {
        merge(sample);
    }
    QStringList names;
    names.reserve(snapshot.endpoints.size());
    for (const EndpointStats &e : snapshot.endpoints) {
        names.append(e.name);
    }
    if (names != m_endpointNames) {
        // Another set of endpoints (a new run or gateway): their counters start again.
        m_endpointNames = names;
        m_previousEndpoints.clear();
    }
    // The differences since the last snapshot are spread over the seconds between the two snapshots
    // (one every 250 ms), in proportion to the time each second takes of that interval.
    const double from = m_havePrevious ? std::min(m_previousMs, snapshot.elapsedMs) : 0.0;
    const double to = std::max(snapshot.elapsedMs, from);
    const qint64 firstSecond = std::max<qint64>(0, qint64(std::floor(from / 1000.0)));
    const qint64 lastSecond = std::max<qint64>(firstSecond, qint64(std::ceil(to / 1000.0)) - 1);
    if (qint64(m_derived.size()) <= lastSecond) {
        m_derived.resize(std::size_t(lastSecond + 1));
    }
    std::array<float, ClassCount> classDelta{};
    for (int c = 0; c < ClassCount; ++c) {
        const QString name = QString::fromLatin1(classNames()[std::size_t(c)]);
        const qint64 before = m_havePrevious ? m_previousClasses.value(name) : 0;
        classDelta[std::size_t(c)] =
            float(std::max<qint64>(0, snapshot.attemptErrorsByClass.value(name) - before));
    }
    std::vector<EndpointSecond> endpointDelta(std::size_t(snapshot.endpoints.size()));
    for (qsizetype i = 0; i < snapshot.endpoints.size(); ++i) {
        const EndpointStats &now = snapshot.endpoints.at(i);
        const EndpointStats before =
            i < m_previousEndpoints.size() ? m_previousEndpoints.at(i) : EndpointStats();
        EndpointSecond &e = endpointDelta[std::size_t(i)];
        e.sent = float(std::max<qint64>(0, now.sent - before.sent));
        e.ok = float(std::max<qint64>(0, now.ok - before.ok));
        e.rateLimited = float(std::max<qint64>(0, now.rateLimited - before.rateLimited));
        e.errors = float(std::max<qint64>(0, now.errors - before.errors));
        e.latencySumMs = float(std::max(0.0, now.latencySumMs - before.latencySumMs));
        e.ttfts = float(std::max<qint64>(0, now.ttftCount - before.ttftCount));
        e.ttftSumMs = float(std::max(0.0, now.ttftSumMs - before.ttftSumMs));
    }
    for (qint64 second = firstSecond; second <= lastSecond; ++second) {
        const double overlap =
            std::min(to, double(second + 1) * 1000.0) - std::max(from, double(second) * 1000.0);
        const float share =
            to > from ? float(std::max(0.0, overlap) / (to - from)) : (second == lastSecond ? 1.0f : 0.0f);
        if (share <= 0) {
            continue;
        }
        Derived &d = m_derived[std::size_t(second)];
        for (int c = 0; c < ClassCount; ++c) {
            d.classErrors[std::size_t(c)] += share * classDelta[std::size_t(c)];
        }
        d.endpoints.resize(std::max(d.endpoints.size(), endpointDelta.size()));
        for (std::size_t i = 0; i < endpointDelta.size(); ++i) {
            EndpointSecond &e = d.endpoints[i];
            e.sent += share * endpointDelta[i].sent;
            e.ok += share * endpointDelta[i].ok;
            e.rateLimited += share * endpointDelta[i].rateLimited;
            e.errors += share * endpointDelta[i].errors;
            e.latencySumMs += share * endpointDelta[i].latencySumMs;
            e.ttfts += share * endpointDelta[i].ttfts;
            e.ttftSumMs += share * endpointDelta[i].ttftSumMs;
        }
    }
    m_havePrevious = true;
    m_previousMs = snapshot.elapsedMs;
    m_previousClasses = snapshot.attemptErrorsByClass;
    m_previousEndpoints = snapshot.endpoints;
}

void ChartHistory::setHistory(const std::vector<SecondSample> &history)
{
    clear();
    m_seconds.reserve(history.size());
    for (const SecondSample &sample : history) {
        merge(sample);
    }
}

void ChartHistory::clear()
{
    m_seconds.clear();
    m_derived.clear();
    m_endpointNames.clear();
    m_havePrevious = false;
    m_previousMs = 0;
    m_previousClasses.clear();
    m_previousEndpoints.clear();
}

bool ChartHistory::valueAt(MetricId id, std::size_t index, double *value) const
{
    const SecondSample &s = m_seconds[index];
    const Derived *d =
        s.second >= 0 && s.second < qint64(m_derived.size()) ? &m_derived[std::size_t(s.second)] : nullptr;
    const auto endpoint = [&]() -> const EndpointSecond * {
        static const EndpointSecond none;
        if (!d || id.index < 0 || std::size_t(id.index) >= d->endpoints.size()) {
            return &none;
        }
        return &d->endpoints[std::size_t(id.index)];
    };
    switch (id.metric) {
    case Metric::Issued:
        *value = double(s.issued);
        return true;
    case Metric::Finished:
    case Metric::RequestsPerSecond:
        *value = double(s.finished);
        return true;
    case Metric::HeldBackPercent:
        if (s.issued <= 0) {
            return false; // nothing was sent: no share
        }
        *value = 100.0 * double(std::min(s.overflow, s.issued)) / double(s.issued);
        return true;
    case Metric::RateLimited:
        *value = double(s.exceptions);
        return true;
    case Metric::Errors:
        *value = double(s.errors);
        return true;
    case Metric::ClassErrors:
        *value =
            d && id.index >= 0 && id.index < ClassCount ? double(d->classErrors[std::size_t(id.index)]) : 0;
        return true;
    case Metric::TokensPerSecond:
        *value = double(s.inputTokens + s.outputTokens);
        return true;
    case Metric::P50:
    case Metric::P90:
    case Metric::P99:
        // A second without successes has no percentiles, and a zero would only be noise.
        if (s.p50Ms <= 0 && s.p99Ms <= 0) {
            return false;
        }
        *value = id.metric == Metric::P50 ? s.p50Ms : id.metric == Metric::P90 ? s.p90Ms : s.p99Ms;
        return true;
    case Metric::EndpointSent:
        *value = endpoint()->sent;
        return true;
    case Metric::EndpointRateLimited:
        *value = endpoint()->rateLimited;
        return true;
    case Metric::EndpointErrors:
        *value = endpoint()->errors;
        return true;
    case Metric::EndpointLatency: {
        const EndpointSecond *e = endpoint();
        if (e->ok <= 0) {
            return false;
        }
        *value = double(e->latencySumMs) / double(e->ok);
        return true;
    }
    case Metric::EndpointTtft: {
        const EndpointSecond *e = endpoint();
        if (e->ttfts <= 0) {
            return false;
        }
        *value = double(e->ttftSumMs) / double(e->ttfts);
        return true;
    }
    case Metric::TtftP50:
    case Metric::TtftP90:
    case Metric::TtftP99:
    case Metric::ItlP50:
    case Metric::ItlP99:
        // A second without streams has no percentiles.
        if (s.streams <= 0) {
            return false;
        }
        *value = id.metric == Metric::TtftP50   ? s.ttftP50Ms
                 : id.metric == Metric::TtftP90 ? s.ttftP90Ms
                 : id.metric == Metric::TtftP99 ? s.ttftP99Ms
                 : id.metric == Metric::ItlP50  ? s.itlP50Ms
                                                : s.itlP99Ms;
        return true;
    case Metric::StreamTokensPerSecond:
        *value = double(s.streamOutputTokens);
        return true;
    case Metric::StreamsPerSecond:
        *value = double(s.streams);
        return true;
    }
    return false;
}

QList<QPointF> ChartHistory::points(MetricId metric, double spanSeconds, int maxPoints) const
{
    std::size_t first = 0;
    if (spanSeconds > 0 && !m_seconds.empty()) {
        const qint64 from = m_seconds.back().second - qint64(spanSeconds) + 1;
        first = std::size_t(std::lower_bound(m_seconds.begin(), m_seconds.end(), from,
                                             [](const SecondSample &s, qint64 v) { return s.second < v; }) -
                            m_seconds.begin());
    }
    std::vector<QPointF> values;
    values.reserve(m_seconds.size() - first);
    for (std::size_t i = first; i < m_seconds.size(); ++i) {
        double v = 0;
        if (valueAt(metric, i, &v)) {
            values.emplace_back(double(m_seconds[i].second), v);
        }
    }
    QList<QPointF> points;
    if (values.empty()) {
        return points;
    }
    const std::size_t limit = std::size_t(std::max(1, maxPoints));
    const std::size_t bucket = (values.size() + limit - 1) / limit;
    points.reserve(qsizetype((values.size() + bucket - 1) / bucket));
    for (std::size_t start = 0; start < values.size(); start += bucket) {
        const std::size_t end = std::min(values.size(), start + bucket);
        double sx = 0, sy = 0;
        for (std::size_t i = start; i < end; ++i) {
            sx += values[i].x();
            sy += values[i].y();
        }
        const double n = double(end - start);
        points.append(QPointF(sx / n, sy / n));
    }
    return points;
}

} // namespace Sluice::Gui
