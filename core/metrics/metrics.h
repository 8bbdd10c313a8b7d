#pragma once

#include "io/errorclass.h"
#include "io/requestsource.h"
#include "metrics/endpointstate.h"
#include "metrics/latencyhistogram.h"
#include "net/attempt.h"
#include "util/result.h"

#include <QList>
#include <QMap>
#include <QMetaType>
#include <QString>

#include <nlohmann/json.hpp>

#include <vector>

namespace Sluice {

/// Counts of one second of a run (the chart and CSV history rows).
struct SecondSample
{
    qint64 second = 0;     ///< seconds since the run started
    qint64 issued = 0;     ///< attempts sent (first sends and retries)
    qint64 finished = 0;   ///< requests that reached their final record (result or error)
    qint64 succeeded = 0;  ///< of those, results
    qint64 overflow = 0;   ///< requests held back because no endpoint had budget or a free connection
    qint64 exceptions = 0; ///< 429 answers received
    qint64 errors = 0;     ///< failed attempts other than 429
    qint64 inputTokens = 0;
    qint64 outputTokens = 0;
    /// Latency percentiles (ms) of the successes that came back in this second; 0 when none did.
    double p50Ms = 0, p90Ms = 0, p99Ms = 0;
    /// Streamed successes that came back in this second: how many, their time to first token and the
    /// gaps between their content events (inter-token latency) as percentiles (ms; 0 when none), and
    /// their output tokens (the second's aggregate output tokens/s of streams).
    qint64 streams = 0;
    double ttftP50Ms = 0, ttftP90Ms = 0, ttftP99Ms = 0;
    double itlP50Ms = 0, itlP99Ms = 0;
    qint64 streamOutputTokens = 0;
    double costUsd = 0;  ///< what the attempts that came back in this second cost (USD)
    double spentUsd = 0; ///< spent since the start of the run, at the end of this second (USD)
};

/// Live state of one endpoint.
struct EndpointStats
{
    QString name;
    double weight = 0;
    qint64 sent = 0;        ///< attempts sent
    qint64 ok = 0;          ///< 2xx successes
    qint64 rateLimited = 0; ///< 429 answers
    qint64 errors = 0;      ///< other failed attempts
    int inFlight = 0;
    EndpointState state = EndpointState::Active;
    double limitRps = 0;                              ///< current limit in requests/s, 0 = unlimited
    double limitTps = 0;                              ///< current limit in tokens/s, 0 = unlimited
    LimitReason limitReason = LimitReason::Unlimited; ///< what binds, or why nothing goes now
    int ejectedAfter = 0; ///< Unreachable / Failing: the failures in a row that ejected it

    /// The state as text, with the ejection's cause ("unreachable: 5 attempts in a row got no answer").
    QString stateText() const;
    QString limitReasonText() const { return toString(limitReason); }
    double p50Ms = 0, p90Ms = 0, p99Ms = 0;
    qint64 inputTokens = 0, outputTokens = 0;
    double latencySumMs = 0; ///< sum of the latencies of its successes (ok): a mean over any interval
    /// Its streamed successes: count, TTFT and inter-token latency percentiles (ms), output tokens.
    qint64 streams = 0;
    double ttftP50Ms = 0, ttftP90Ms = 0, ttftP99Ms = 0;
    double itlP50Ms = 0, itlP99Ms = 0;
    qint64 streamOutputTokens = 0;
    qint64 ttftCount = 0;       ///< streams whose first token came (the TTFTs summed below)
    double ttftSumMs = 0;       ///< sum of those TTFTs: a mean over any interval
    double costSpentUsd = 0;    ///< what its attempts cost (USD)
    double costReservedUsd = 0; ///< committed to its requests in flight (their worst case; budgeted runs)
    double costBudgetUsd = 0;   ///< its own budget; 0 = none
};

/// What a run spent and may still spend, for the snapshot (and the summary).
struct CostStats
{
    bool limited = false;  ///< some cost budget is set
    double spentUsd = 0;   ///< what this session's attempts cost so far (priced ones)
    double earlierUsd = 0; ///< what earlier sessions of this run spent (a resumed run), counted in its budget
    double reservedUsd = 0;      ///< committed to requests in flight (their worst case; budgeted runs)
    double budgetUsd = 0;        ///< the run's budget; 0 = none
    bool budgetReached = false;  ///< the run stopped because the next request did not fit the budget
    qint64 pricedReplies = 0;    ///< attempts whose usage had a price
    qint64 unpricedReplies = 0;  ///< attempts that used tokens of a model without a price (not in spentUsd)
    bool team = false;           ///< the budget is a team's, shared through Redis
    double teamCommittedUsd = 0; ///< the team's spend and holdings at Redis's last answer
    QString teamState;

    /// Spent plus committed, as a share of the budget (0 without one).
    double budgetShare() const { return budgetUsd > 0 ? (runSpentUsd() + reservedUsd) / budgetUsd : 0; }
    /// What the run spent, all its sessions: what its budget counts.
    double runSpentUsd() const { return earlierUsd + spentUsd; }
};

/// Live state of the limits shared through Redis (core/shared/sharedlimits.h), for the snapshot.
struct SharedLimitsStats
{
    bool enabled = false;
    QString state; ///< "connecting", "connected", "down (paused)", "down (local 1/N)"
    QString nameSpace;
    QString onRedisDown;     ///< fail_closed | fail_open
    int processes = 0;       ///< processes drawing on the same budgets now (most on any endpoint)
    int maxProcesses = 0;    ///< the most seen at once during the run
    qint64 leases = 0;       ///< lease scripts answered
    qint64 leaseDenials = 0; ///< of those, answered "not yet" (budget spent ahead, or a shared cooldown)
    double leaseRttP50Ms = 0, leaseRttP99Ms = 0;
    qint64 permitsGranted = 0; ///< request slots leased
    qint64 permitsUsed = 0;    ///< of those, spent on a send
    qint64 permitsExpired = 0; ///< of those, unused when their moment passed
    qint64 redisErrors = 0;    ///< error replies to our scripts
    qint64 reconnects = 0;
    qint64 cooldownsPublished = 0; ///< 429s of this process turned into a shared cooldown
    qint64 cooldownsReceived = 0;  ///< leases answered "cooling down" (a 429 seen by any process)
    qint64 sentWhileDown = 0;      ///< requests sent on local limits while Redis was down (fail_open)
    double downMs = 0;             ///< total time Redis was unreachable
};

/// Run state as shown to the operator.
enum class RunState { Idle, Running, Paused, Stopping, Finished };
QString toString(RunState state);

/// A copyable picture of a run, emitted by the engine every tick (and once at the end as the summary).
struct MetricsSnapshot
{
    RunState state = RunState::Idle;
    double elapsedMs = 0;
    qint64 linesRead = 0;      ///< non-blank input lines read so far
    qint64 estimatedLines = 0; ///< line count of the whole file (fast pre-scan), for progress
    qint64 bytesRead = 0, fileSize = 0;
    qint64 succeeded = 0;    ///< result records written
    qint64 failed = 0;       ///< error records written (invalid lines included)
    qint64 invalidLines = 0; ///< of those, lines that could not be parsed or were duplicates
    qint64 issued = 0, retries = 0, rateLimited = 0, overflow = 0;
    qint64 inFlight = 0, queued = 0, waitingRetry = 0;
    qint64 notStarted = 0; ///< after a stop: lines never sent
    /// A resumed run: records its earlier sessions wrote (skipped now), in the results and the errors.
    qint64 resumedSucceeded = 0, resumedFailed = 0;
    double currentRps = 0; ///< requests finished in the last whole second
    double averageRps = 0; ///< requests finished per second over the run
    double p50Ms = 0, p90Ms = 0, p99Ms = 0;
    qint64 inputTokens = 0, outputTokens = 0;
    /// Streamed successes of the run: count, time to first token and inter-token latency (the gaps
    /// between content events) percentiles in ms, and their output tokens (per second of the run:
    /// streamOutputTokensPerS()).
    qint64 streams = 0;
    double ttftP50Ms = 0, ttftP90Ms = 0, ttftP99Ms = 0;
    double itlP50Ms = 0, itlP99Ms = 0;
    qint64 streamOutputTokens = 0;
    QList<EndpointStats> endpoints;
    QMap<QString, qint64> errorsByClass; ///< final error records by error_class
    /// Failed attempts (retried or not) by error_class since the start, 429s ("rate_limited") included,
    /// cancelled ones not: the per-class split of SecondSample::exceptions + errors.
    QMap<QString, qint64> attemptErrorsByClass;
    /// The run's latency histogram (successes): (upper bound in ms, count) of its non-empty 4 % buckets.
    std::vector<std::pair<double, qint64>> latencyBuckets;
    QList<SecondSample> recent; ///< the last whole seconds (up to 60)
    SharedLimitsStats shared;   ///< enabled only with a project "shared" block
    CostStats cost;

    qint64 done() const { return succeeded + failed; }
    /// Aggregate output tokens per second of the streamed successes over the run so far.
    double streamOutputTokensPerS() const
    {
        return elapsedMs > 0 ? double(streamOutputTokens) * 1000.0 / elapsedMs : 0;
    }
    /// Lines with a record, counting earlier sessions of a resumed run: what progress is measured by.
    qint64 doneInAll() const { return done() + resumedSucceeded + resumedFailed; }
    /// The run summary as JSON (`--summary`): totals, rates, latency, per-endpoint table.
    nlohmann::json toJson() const;
    /// Takes the source's reading progress (lines, bytes, resumed records).
    void setProgress(const RequestSource::Progress &progress);
};

/// Accumulates a run's counters, per-second history and latency histograms. Engine-thread only.
class Metrics
{
public:
    void reset(int endpointCount, double startMs);
    void setEndpointCount(int count);

    void recordIssued(int endpoint, double nowMs, bool retry);
    void recordOverflow(double nowMs);
    /// An attempt came back; `cls` None for a success. `latencyMs` counts only for successes, and so
    /// does `stream` (a streamed reply's TTFT and inter-token gaps; nullptr or not streamed: none).
    void recordAttempt(int endpoint, ErrorClass cls, double latencyMs, qint64 inTokens, qint64 outTokens,
                       double nowMs, const StreamStats *stream = nullptr);
    /// An attempt came back having cost `usd` (-1: it used tokens of a model without a price).
    void recordCost(int endpoint, double usd, double nowMs);
    /// What this session's attempts cost so far, in all and at one endpoint (USD).
    double spentUsd() const { return m_spentUsd; }
    double spentUsd(int endpoint) const { return m_endpoints.at(std::size_t(endpoint)).costUsd; }
    /// A request reached its final record.
    void recordFinal(ErrorClass cls, double nowMs);
    void recordInvalidLine(ErrorClass cls, double nowMs);

    /// Fills the counter part of a snapshot (the engine adds queue and limiter state).
    void fill(MetricsSnapshot &snapshot, double nowMs) const;
    /// Every second since the start (for the CSV history export); the last one may still be filling.
    const std::vector<SecondSample> &history() const;

    /// Writes `history` as CSV with a header row: second, issued, finished, succeeded, overflow,
    /// exceptions, errors, input_tokens, output_tokens, p50_ms, p90_ms, p99_ms, streams, ttft_p50_ms,
    /// ttft_p90_ms, ttft_p99_ms, itl_p50_ms, itl_p99_ms, stream_output_tokens_per_s, cost_usd, spent_usd.
    static Result<void> writeHistoryCsv(const QString &path, const std::vector<SecondSample> &history);

private:
    struct PerEndpoint
    {
        qint64 sent = 0, ok = 0, rateLimited = 0, errors = 0, inputTokens = 0, outputTokens = 0;
        double latencySumMs = 0;
        double costUsd = 0;
        LatencyHistogram latency;
        qint64 streams = 0, streamOutputTokens = 0;
        double ttftSumMs = 0;
        LatencyHistogram ttft, itl;
    };
    SecondSample &at(double nowMs);
    void recordStream(PerEndpoint &e, SecondSample &s, const StreamStats &stream, qint64 outTokens);
    /// Writes the percentiles of the second that is still collecting latencies into its sample.
    void updateOpenSecond() const;

    double m_startMs = 0;
    /// mutable: reading the history first brings the open second's percentiles up to date.
    mutable std::vector<SecondSample> m_seconds;
    LatencyHistogram m_secondLatency; ///< the successes of second m_latencySecond
    qint64 m_latencySecond = -1;
    LatencyHistogram m_secondTtft, m_secondItl; ///< the streams of second m_streamSecond
    qint64 m_streamSecond = -1;
    LatencyHistogram m_ttft, m_itl;
    std::vector<PerEndpoint> m_endpoints;
    LatencyHistogram m_latency;
    QMap<QString, qint64> m_errorsByClass;
    QMap<QString, qint64> m_attemptErrorsByClass;
    qint64 m_succeeded = 0, m_failed = 0, m_invalid = 0, m_issued = 0, m_retries = 0, m_rateLimited = 0,
           m_overflow = 0, m_inputTokens = 0, m_outputTokens = 0, m_streams = 0, m_streamOutputTokens = 0,
           m_pricedReplies = 0, m_unpricedReplies = 0;
    double m_spentUsd = 0;
};

} // namespace Sluice

Q_DECLARE_METATYPE(Sluice::MetricsSnapshot)
Q_DECLARE_METATYPE(Sluice::RunState)
