#include "metrics.h"

#include <QSaveFile>

#include <algorithm>
#include <cmath>

namespace Sluice {

QString EndpointStats::stateText() const
{
    switch (state) {
    case EndpointState::Unreachable:
        return QStringLiteral("unreachable: %1 attempts in a row got no answer").arg(ejectedAfter);
    case EndpointState::Failing:
        return QStringLiteral("failing: %1 different requests in a row failed").arg(ejectedAfter);
    default:
        break;
    }
    return toString(state);
}

QString toString(RunState state)
{
    switch (state) {
    case RunState::Idle:
        return QStringLiteral("idle");
    case RunState::Running:
        return QStringLiteral("running");
    case RunState::Paused:
        return QStringLiteral("paused");
    case RunState::Stopping:
        return QStringLiteral("stopping");
    case RunState::Finished:
        return QStringLiteral("finished");
    }
    return QString();
}

void Metrics::reset(int endpointCount, double startMs)
{
    *this = Metrics();
    m_startMs = startMs;
    setEndpointCount(endpointCount);
}

void Metrics::setEndpointCount(int count)
{
    m_endpoints.resize(std::size_t(count));
}

SecondSample &Metrics::at(double nowMs)
{
    const qint64 second = std::max<qint64>(0, qint64((nowMs - m_startMs) / 1000.0));
    while (qint64(m_seconds.size()) <= second) {
        SecondSample s;
        s.second = qint64(m_seconds.size());
        s.spentUsd = m_spentUsd;
        m_seconds.push_back(s);
    }
    return m_seconds[std::size_t(second)];
}

void Metrics::recordIssued(int endpoint, double nowMs, bool retry)
{
    ++at(nowMs).issued;
    ++m_issued;
    if (retry) {
        ++m_retries;
    }
    ++m_endpoints.at(std::size_t(endpoint)).sent;
}

void Metrics::recordOverflow(double nowMs)
{
    ++at(nowMs).overflow;
    ++m_overflow;
}

void Metrics::recordAttempt(int endpoint, ErrorClass cls, double latencyMs, qint64 inTokens, qint64 outTokens,
                            double nowMs, const StreamStats *stream)
{
    SecondSample &s = at(nowMs);
    PerEndpoint &e = m_endpoints.at(std::size_t(endpoint));
    if (cls == ErrorClass::None) {
        ++e.ok;
        e.latency.add(latencyMs);
        e.latencySumMs += latencyMs;
        m_latency.add(latencyMs);
        if (s.second != m_latencySecond) {
            // A new second: the last one's percentiles are final.
            updateOpenSecond();
            m_secondLatency.clear();
            m_latencySecond = s.second;
        }
        m_secondLatency.add(latencyMs);
        e.inputTokens += inTokens;
        e.outputTokens += outTokens;
        m_inputTokens += inTokens;
        m_outputTokens += outTokens;
        s.inputTokens += inTokens;
        s.outputTokens += outTokens;
        if (stream && stream->streamed) {
            recordStream(e, s, *stream, outTokens);
        }
    } else if (cls == ErrorClass::RateLimited) {
        ++e.rateLimited;
        ++m_rateLimited;
        ++s.exceptions;
        ++m_attemptErrorsByClass[toString(cls)];
    } else if (cls != ErrorClass::Cancelled) {
        ++e.errors;
        ++s.errors;
        ++m_attemptErrorsByClass[toString(cls)];
    }
}

void Metrics::recordStream(PerEndpoint &e, SecondSample &s, const StreamStats &stream, qint64 outTokens)
{
    if (s.second != m_streamSecond) {
        updateOpenSecond();
        m_secondTtft.clear();
        m_secondItl.clear();
        m_streamSecond = s.second;
    }
    ++s.streams;
    ++e.streams;
    ++m_streams;
    s.streamOutputTokens += outTokens;
    e.streamOutputTokens += outTokens;
    m_streamOutputTokens += outTokens;
    if (stream.ttftMs >= 0) {
        m_secondTtft.add(stream.ttftMs);
        e.ttft.add(stream.ttftMs);
        e.ttftSumMs += stream.ttftMs;
        m_ttft.add(stream.ttftMs);
    }
    for (const float gap : stream.gapsMs) {
        m_secondItl.add(gap);
        e.itl.add(gap);
        m_itl.add(gap);
    }
}

void Metrics::recordCost(int endpoint, double usd, double nowMs)
{
    if (usd < 0) {
        ++m_unpricedReplies;
        return;
    }
    ++m_pricedReplies;
    if (usd == 0) {
        return;
    }
    SecondSample &s = at(nowMs);
    m_spentUsd += usd;
    m_endpoints.at(std::size_t(endpoint)).costUsd += usd;
    s.costUsd += usd;
    s.spentUsd = m_spentUsd;
}

void Metrics::updateOpenSecond() const
{
    if (m_streamSecond >= 0 && m_streamSecond < qint64(m_seconds.size())) {
        SecondSample &s = m_seconds[std::size_t(m_streamSecond)];
        s.ttftP50Ms = m_secondTtft.quantile(0.50);
        s.ttftP90Ms = m_secondTtft.quantile(0.90);
        s.ttftP99Ms = m_secondTtft.quantile(0.99);
        s.itlP50Ms = m_secondItl.quantile(0.50);
        s.itlP99Ms = m_secondItl.quantile(0.99);
    }
    if (m_latencySecond < 0 || m_latencySecond >= qint64(m_seconds.size()) || m_secondLatency.count() == 0) {
        return;
    }
    SecondSample &s = m_seconds[std::size_t(m_latencySecond)];
    s.p50Ms = m_secondLatency.quantile(0.50);
    s.p90Ms = m_secondLatency.quantile(0.90);
    s.p99Ms = m_secondLatency.quantile(0.99);
}

const std::vector<SecondSample> &Metrics::history() const
{
    updateOpenSecond();
    return m_seconds;
}

void Metrics::recordFinal(ErrorClass cls, double nowMs)
{
    SecondSample &s = at(nowMs);
    ++s.finished;
    if (cls == ErrorClass::None) {
        ++s.succeeded;
        ++m_succeeded;
    } else {
        ++m_failed;
        ++m_errorsByClass[toString(cls)];
    }
}

void Metrics::recordInvalidLine(ErrorClass cls, double nowMs)
{
    ++m_invalid;
    recordFinal(cls, nowMs);
}

void Metrics::fill(MetricsSnapshot &snap, double nowMs) const
{
    snap.elapsedMs = nowMs - m_startMs;
    snap.succeeded = m_succeeded;
    snap.failed = m_failed;
    snap.invalidLines = m_invalid;
    snap.issued = m_issued;
    snap.retries = m_retries;
    snap.rateLimited = m_rateLimited;
    snap.overflow = m_overflow;
    snap.inputTokens = m_inputTokens;
    snap.outputTokens = m_outputTokens;
    snap.p50Ms = m_latency.quantile(0.50);
    snap.p90Ms = m_latency.quantile(0.90);
    snap.p99Ms = m_latency.quantile(0.99);
    snap.errorsByClass = m_errorsByClass;
    snap.attemptErrorsByClass = m_attemptErrorsByClass;
    snap.latencyBuckets = m_latency.nonEmptyBuckets();
    snap.streams = m_streams;
    snap.streamOutputTokens = m_streamOutputTokens;
    snap.ttftP50Ms = m_ttft.quantile(0.50);
    snap.ttftP90Ms = m_ttft.quantile(0.90);
    snap.ttftP99Ms = m_ttft.quantile(0.99);
    snap.itlP50Ms = m_itl.quantile(0.50);
    snap.itlP99Ms = m_itl.quantile(0.99);
    snap.cost.spentUsd = m_spentUsd;
    snap.cost.pricedReplies = m_pricedReplies;
    snap.cost.unpricedReplies = m_unpricedReplies;
    snap.averageRps = snap.elapsedMs > 0 ? double(m_succeeded + m_failed) * 1000.0 / snap.elapsedMs : 0;

    // The current second is still filling: report the last whole ones. Seconds after the last event
    // have no sample yet: nothing happened in them, so they count as zeros (a rate that stops decays).
    const qint64 current = qint64((nowMs - m_startMs) / 1000.0);
    const qint64 lastWhole = current - 1;
    const qint64 recorded = qint64(m_seconds.size());
    updateOpenSecond();
    snap.currentRps =
        lastWhole >= 0 && lastWhole < recorded ? double(m_seconds[std::size_t(lastWhole)].finished) : 0;
    snap.recent.clear();
    for (qint64 s = std::max<qint64>(0, lastWhole - 59); s <= lastWhole; ++s) {
        if (s < recorded) {
            snap.recent.append(m_seconds[std::size_t(s)]);
        } else {
            SecondSample idle;
            idle.second = s;
            idle.spentUsd = m_spentUsd;
            snap.recent.append(idle);
        }
    }

    snap.endpoints.resize(qsizetype(m_endpoints.size()));
    for (std::size_t i = 0; i < m_endpoints.size(); ++i) {
        const PerEndpoint &e = m_endpoints[i];
        EndpointStats &out = snap.endpoints[qsizetype(i)];
        out.sent = e.sent;
        out.ok = e.ok;
        out.rateLimited = e.rateLimited;
        out.errors = e.errors;
        out.inputTokens = e.inputTokens;
        out.outputTokens = e.outputTokens;
        out.p50Ms = e.latency.quantile(0.50);
        out.p90Ms = e.latency.quantile(0.90);
        out.p99Ms = e.latency.quantile(0.99);
        out.latencySumMs = e.latencySumMs;
        out.streams = e.streams;
        out.streamOutputTokens = e.streamOutputTokens;
        out.ttftCount = e.ttft.count();
        out.ttftSumMs = e.ttftSumMs;
        out.ttftP50Ms = e.ttft.quantile(0.50);
        out.ttftP90Ms = e.ttft.quantile(0.90);
        out.ttftP99Ms = e.ttft.quantile(0.99);
        out.itlP50Ms = e.itl.quantile(0.50);
        out.itlP99Ms = e.itl.quantile(0.99);
        out.costSpentUsd = e.costUsd;
    }
}

Result<void> Metrics::writeHistoryCsv(const QString &path, const std::vector<SecondSample> &history)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        return Error{Error::Code::Io, QStringLiteral("%1: cannot write: %2").arg(path, file.errorString()),
                     0};
    }
    // Columns are only ever appended (readers of older files know the first ones).
    QByteArray csv = "second,issued,finished,succeeded,overflow,exceptions,errors,input_tokens,"
                     "output_tokens,p50_ms,p90_ms,p99_ms,streams,ttft_p50_ms,ttft_p90_ms,ttft_p99_ms,"
                     "itl_p50_ms,itl_p99_ms,stream_output_tokens_per_s,cost_usd,spent_usd\n";
    const auto ms = [&csv](double value) {
        csv += QByteArray::number(std::round(value * 10.0) / 10.0, 'f', 1);
        csv += ',';
    };
    for (const SecondSample &s : history) {
        for (const qint64 v : {s.second, s.issued, s.finished, s.succeeded, s.overflow, s.exceptions,
                               s.errors, s.inputTokens, s.outputTokens}) {
            csv += QByteArray::number(v);
            csv += ',';
        }
        for (const double value : {s.p50Ms, s.p90Ms, s.p99Ms}) {
            ms(value);
        }
        csv += QByteArray::number(s.streams);
        csv += ',';
        for (const double value : {s.ttftP50Ms, s.ttftP90Ms, s.ttftP99Ms, s.itlP50Ms, s.itlP99Ms}) {
            ms(value);
        }
        csv += QByteArray::number(s.streamOutputTokens);
        csv += ',';
        for (const double usd : {s.costUsd, s.spentUsd}) {
            csv += QByteArray::number(usd, 'f', 8);
            csv += ',';
        }
        csv[csv.size() - 1] = '\n';
    }
    file.write(csv);
    if (!file.commit()) {
        return Error{Error::Code::Io, QStringLiteral("%1: cannot write: %2").arg(path, file.errorString()),
                     0};
    }
    return {};
}

void MetricsSnapshot::setProgress(const RequestSource::Progress &progress)
{
    if (progress.linesRead >= 0) {
        linesRead = progress.linesRead;
    }
    estimatedLines = progress.estimatedLines;
    bytesRead = progress.bytesRead;
    fileSize = progress.fileSize;
    resumedSucceeded = progress.resumedSucceeded;
    resumedFailed = progress.resumedFailed;
}

namespace {

using json = nlohmann::json;

double round1(double v)
{
    return std::round(v * 10.0) / 10.0;
}

double roundUsd(double v)
{
    return std::round(v * 1e8) / 1e8;
}

/// One endpoint in the --summary JSON.
json endpointJson(const EndpointStats &e, double elapsedMs)
{
    return {{"name", e.name.toStdString()},
            {"weight", e.weight},
            {"sent", e.sent},
            {"ok", e.ok},
            {"rate_limited", e.rateLimited},
            {"errors", e.errors},
            {"latency_ms", {{"p50", round1(e.p50Ms)}, {"p90", round1(e.p90Ms)}, {"p99", round1(e.p99Ms)}}},
            {"tokens", {{"input", e.inputTokens}, {"output", e.outputTokens}}},
            {"streaming",
             {{"streams", e.streams},
              {"ttft_ms",
               {{"p50", round1(e.ttftP50Ms)}, {"p90", round1(e.ttftP90Ms)}, {"p99", round1(e.ttftP99Ms)}}},
              {"itl_ms", {{"p50", round1(e.itlP50Ms)}, {"p99", round1(e.itlP99Ms)}}},
              {"output_tokens", e.streamOutputTokens},
              {"output_tokens_per_s",
               round1(elapsedMs > 0 ? double(e.streamOutputTokens) * 1000.0 / elapsedMs : 0)}}},
            {"state", toString(e.state).toStdString()},
            {"state_detail", e.stateText().toStdString()},
            {"limit_rps", round1(e.limitRps)},
            {"limit_tps", round1(e.limitTps)},
            {"limit_reason", e.limitReasonText().toStdString()},
            {"cost_usd",
             {{"spent", roundUsd(e.costSpentUsd)},
              {"committed", roundUsd(e.costReservedUsd)},
              {"budget", e.costBudgetUsd > 0 ? json(e.costBudgetUsd) : json(nullptr)}}}};
}

/// The run's "cost_usd" object.
json costJson(const CostStats &cost, double elapsedMs)
{
    json js{{"spent", roundUsd(cost.spentUsd)},
            {"spent_earlier", roundUsd(cost.earlierUsd)},
            {"committed", roundUsd(cost.reservedUsd)},
            {"budget", cost.budgetUsd > 0 ? json(cost.budgetUsd) : json(nullptr)},
            {"budget_reached", cost.budgetReached},
            {"per_second", elapsedMs > 0 ? roundUsd(cost.spentUsd * 1000.0 / elapsedMs) : 0.0},
            {"priced_replies", cost.pricedReplies},
            {"unpriced_replies", cost.unpricedReplies}};
    if (cost.team) {
        js["team_committed"] = roundUsd(cost.teamCommittedUsd);
        js["team_state"] = cost.teamState.toStdString();
    }
    return js;
}

/// The run's "shared" object (limits shared through Redis).
json sharedJson(const SharedLimitsStats &shared)
{
    return {{"state", shared.state.toStdString()},
            {"namespace", shared.nameSpace.toStdString()},
            {"on_redis_down", shared.onRedisDown.toStdString()},
            {"processes", shared.processes},
            {"max_processes", shared.maxProcesses},
            {"leases", shared.leases},
            {"lease_denials", shared.leaseDenials},
            {"lease_rtt_ms", {{"p50", round1(shared.leaseRttP50Ms)}, {"p99", round1(shared.leaseRttP99Ms)}}},
            {"permits_granted", shared.permitsGranted},
            {"permits_used", shared.permitsUsed},
            {"permits_expired", shared.permitsExpired},
            {"redis_errors", shared.redisErrors},
            {"reconnects", shared.reconnects},
            {"cooldowns_published", shared.cooldownsPublished},
            {"cooldowns_received", shared.cooldownsReceived},
            {"sent_while_down", shared.sentWhileDown},
            {"down_s", round1(shared.downMs / 1000.0)}};
}

} // namespace

nlohmann::json MetricsSnapshot::toJson() const
{
    json eps = json::array();
    for (const EndpointStats &e : endpoints) {
        eps.push_back(endpointJson(e, elapsedMs));
    }
    json classes = json::object();
    for (auto it = errorsByClass.cbegin(); it != errorsByClass.cend(); ++it) {
        classes[it.key().toStdString()] = it.value();
    }
    json js{
        {"state", toString(state).toStdString()},
        {"elapsed_s", round1(elapsedMs / 1000.0)},
        {"lines", linesRead},
        {"succeeded", succeeded},
        {"failed", failed},
        {"invalid_lines", invalidLines},
        {"not_started", notStarted},
        {"resumed_succeeded", resumedSucceeded},
        {"resumed_failed", resumedFailed},
        {"attempts", issued},
        {"retries", retries},
        {"rate_limited", rateLimited},
        {"overflow", overflow},
        {"requests_per_second", round1(averageRps)},
        {"latency_ms", {{"p50", round1(p50Ms)}, {"p90", round1(p90Ms)}, {"p99", round1(p99Ms)}}},
        {"tokens", {{"input", inputTokens}, {"output", outputTokens}}},
        {"streaming",
         {{"streams", streams},
          {"ttft_ms", {{"p50", round1(ttftP50Ms)}, {"p90", round1(ttftP90Ms)}, {"p99", round1(ttftP99Ms)}}},
          {"itl_ms", {{"p50", round1(itlP50Ms)}, {"p99", round1(itlP99Ms)}}},
          {"output_tokens", streamOutputTokens},
          {"output_tokens_per_s", round1(streamOutputTokensPerS())}}},
        {"errors_by_class", classes},
        {"cost_usd", costJson(cost, elapsedMs)},
        {"endpoints", eps}};
    if (shared.enabled) {
        js["shared"] = sharedJson(shared);
    }
    return js;
}

} // namespace Sluice
