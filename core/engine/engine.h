#pragma once

#include "balance/balancer.h"
#include "engine/outcomesink.h"
#include "engine/projectconfig.h"
#include "engine/requestsource.h"
#include "io/journal.h"
#include "io/jsonlreader.h"
#include "io/jsonlwriter.h"
#include "io/lineset.h"
#include "limit/ratelimiter.h"
#include "limit/tokenestimator.h"
#include "metrics/metrics.h"
#include "net/transport.h"
#include "retry/retrybudget.h"
#include "retry/retrypolicy.h"
#include "util/clock.h"
#include "util/randomsource.h"
#include "util/result.h"
#include "util/secrets.h"

#include <QHash>
#include <QObject>
#include <QTimer>

#include <deque>
#include <map>
#include <memory>
#include <unordered_map>

namespace Sluice {

/// Where a run reads and writes, and the knobs that are not part of the project.
struct RunOptions
{
    /// How start() treats the outputs and their journal (`<out>.journal`).
    enum class Mode {
        Fresh,       ///< replace the outputs; refused (UnfinishedRun) when they hold an unfinished run
        Resume,      ///< continue the run recorded in the journal: finished lines are skipped
        RetryErrors, ///< Resume, and run again the lines whose records in the errors file are request
                     ///< failures; results are appended, the errors file keeps only what still fails
    };

    QString requestsPath;
    QString outPath;       ///< results JSONL
    QString errorsPath;    ///< errors JSONL; empty = "errors.jsonl" beside outPath
    QString modelOverride; ///< fills in requests that name no model (before the endpoint's model)
    JsonlReader::Options reader;
    int tickMs = 250; ///< snapshot and flush interval
    QString runId;    ///< prefix of result ids; generated when empty (a resumed run keeps its own)
    Mode mode = Mode::Fresh;
    bool overwrite = false; ///< Fresh: replace the outputs even when they hold an unfinished run
    /// When every enabled endpoint has been unreachable (ejected after failures in a row) this long,
    /// the requests still waiting end as errors instead of waiting for ever (--retry-errors sends them
    /// again later). Shorter outages lose nothing: requests wait, or go to endpoints that answer.
    double unreachableGiveUpMs = 60000;
    /// API keys by endpoint name, supplied by the caller (the desktop app reads them from the OS
    /// keychain). One found here is used instead of the endpoint's api_key_env variable.
    QHash<QString, QByteArray> apiKeys;
    /// `--shard K/N`: this process handles only input lines with (line - 1) % shardCount ==
    /// shardIndex - 1 (physical line numbers, 1-based); the others get no record here. Recorded in the
    /// journal, so a resume must name the same shard.
    int shardIndex = 1;
    int shardCount = 1;

    bool isSharded() const { return shardCount > 1; }
    bool inShard(qint64 line) const { return shardCount <= 1 || (line - 1) % shardCount == shardIndex - 1; }
    /// How many of the first `lines` physical lines belong to this shard.
    qint64 shardLines(qint64 lines) const
    {
        return shardCount <= 1 ? lines : (lines >= shardIndex ? (lines - shardIndex) / shardCount + 1 : 0);
    }
};

class SharedLimits;

/// Owns one run: reads the JSONL input, schedules each request onto an endpoint through the rate
/// limiter and the weighted balancer, sends it over the transport, classifies the reply, retries with
/// backoff, and writes exactly one record per non-blank input line to the results or the errors file.
///
/// Requests come from a RequestSource and end in an OutcomeSink. A file run (the RunOptions
/// constructors) uses its own: the JSONL reader, and the results/errors writers with the journal. A
/// serving engine (the gateway) is given both: it has no files and no journal, runs until stopped
/// (its source never ends), and drops requests the source no longer wants before sending them.
/// Limits, balancing, retries, cooldowns and metrics are the same in both.
///
/// Event-driven on the thread it lives on (the CLI's main thread, or a worker thread under the GUI):
/// it wakes on replies and on a single timer set for the earliest moment a budget, a cooldown or a
/// backoff ends. It never sleeps or blocks. Emits a MetricsSnapshot every `tickMs`, never a signal
/// per request. Commands (pause, weights...) are meant to arrive as queued calls from other threads.
class Engine : public QObject
{
    Q_OBJECT

public:
    Engine(ProjectConfig project, RunOptions options, QObject *parent = nullptr);
    /// With an injected clock and random source (both must outlive the engine).
    Engine(ProjectConfig project, RunOptions options, const Clock *clock, RandomSource *random,
           QObject *parent = nullptr);
    /// A serving engine: requests from `source`, outcomes to `sink` (both outlive the engine). Of
    /// `options`, only the API keys, modelOverride, tickMs and unreachableGiveUpMs apply.
    Engine(ProjectConfig project, RunOptions options, RequestSource *source, OutcomeSink *sink,
           QObject *parent = nullptr);
    /// A serving engine on an injected clock (it must outlive the engine).
    Engine(ProjectConfig project, RunOptions options, RequestSource *source, OutcomeSink *sink,
           const Clock *clock, QObject *parent = nullptr);
    ~Engine() override;

    /// True for an engine made with a RequestSource and an OutcomeSink (no files).
    bool isServing() const { return m_serving; }

    /// Takes each endpoint's API key from RunOptions::apiKeys, else from its environment variable, opens the
    /// input and the outputs (recovering the journal when resuming), and starts sending. An Error when a key
    /// variable is unset, a file cannot be opened, or a resume does not match the recorded run; nothing is
    /// sent then.
    Result<void> start();
    /// Stops issuing new attempts; replies in flight are still recorded.
    void pause();
    void resume();
    /// Graceful stop: no new attempts; waits for those in flight, writes their records, then finishes.
    /// Lines not yet sent get no record (summary: not_started).
    void stop();
    /// Hard stop: cancels attempts in flight (recorded as "cancelled" errors) and finishes.
    void abort();

    void setEndpointWeight(int endpoint, double weight);
    void setEndpointRpm(int endpoint, double rpm);
    void setEndpointMaxInFlight(int endpoint, int maxInFlight);
    void setGlobalRps(double rps);
    void setEndpointTpm(int endpoint, double tpm);
    void setGlobalTpm(double tpm);

    RunState state() const { return m_state; }
    MetricsSnapshot snapshot() const;
    const ProjectConfig &project() const { return m_project; }
    QString errorsPath() const;
    QString journalPath() const { return Journal::pathFor(m_options.outPath); }
    /// `text` with the run's API keys replaced by "[REDACTED]", for anything that leaves the engine.
    QString redacted(QString text) const;
    /// Per-second history of the run so far.
    const std::vector<SecondSample> &history() const { return m_metrics.history(); }

Q_SIGNALS:
    void snapshotReady(const Sluice::MetricsSnapshot &snapshot);
    void stateChanged(Sluice::RunState state);
    /// Emitted once, after every record is written and the files are closed.
    void finished(const Sluice::MetricsSnapshot &summary);
    /// Something the operator should know now (an endpoint out of quota, ...).
    void notice(const QString &message);

private:
    struct Pending
    {
        Request request;
        int attempts = 0;
        quint64 heldEpoch = 0; ///< m_blockEpoch when it joined the queue (overflow accounting)
        int lastEndpoint = -1;
        ErrorClass lastClass = ErrorClass::None;
        QString lastMessage;
        int lastStatus = 0;
        QString lastRequestId;        ///< the last answer's x-request-id / request-id
        double lastRetryAfterMs = -1; ///< what the last answer's Retry-After asked for
        double tokens = -1; ///< token reservation of the current attempt (estimated when first needed)
        EndpointLimiter::SendTicket ticket;
        quint64 bodyKey = 0; ///< tells requests apart for ejection (hash of the body last sent)
    };

    void pump();
    bool refill();
    void dispatch(int endpoint, Pending &&pending, double nowMs);
    void handleResult(AttemptResult &&result);
    class FileSource;
    class FileSink;

    void writeFailure(const Pending &pending, ErrorClass cls, const QString &message, double latencyMs,
                      const nlohmann::json &body = nlohmann::json());
    /// Asks for a pump at the end of this event-loop pass (many wakes coalesce into one).
    void wakeSoon();
    /// A record for `line` went to the results (`ok`) or the errors: journal it, flush soon.
    void recordWritten(qint64 line, bool ok);
    Result<void> openOutputs();
    /// Hands the keys to the transport and starts pumping (both kinds of engine).
    Result<void> startSending(const QList<QByteArray> &keys);
    Result<void> checkpoint(bool finished = false);
    void flushOutputs();
    bool anyEndpointUsable() const;
    bool quotaEndedTheRun() const;
    bool anyRetryCredit() const;
    static bool drawsOnRetryBudget(const Pending &pending);
    void failEverything(ErrorClass cls, const QString &message);
    /// True when every enabled endpoint has been unreachable for unreachableGiveUpMs.
    bool unreachableEndedTheRun(double nowMs);
    double reservation(Pending &pending);
    void scheduleWake(double nowMs);
    void maybeFinish();
    void finish();
    void tick();
    void setState(RunState state);
    /// Applies endpoint `i`'s rpm/tpm: to the shared budgets when the project shares them, else locally.
    void configureEndpointLimits(int endpoint);
    QString endpointName(int endpoint) const;

    ProjectConfig m_project;
    RunOptions m_options;
    const Clock *m_clock;
    std::unique_ptr<DefaultRandom> m_ownRandom;
    RandomSource *m_random;

    RunState m_state = RunState::Idle;
    bool m_serving = false;
    RequestSource *m_source = nullptr; ///< m_fileSource, or the serving engine's
    OutcomeSink *m_sink = nullptr;     ///< m_fileSink, or the serving engine's
    std::unique_ptr<FileSource> m_fileSource;
    std::unique_ptr<FileSink> m_fileSink;
    bool m_sourceDry = false; ///< the last refill() found nothing now (None) in the source
    std::unique_ptr<JsonlReader> m_reader;
    JsonlWriter m_results;
    JsonlWriter m_errors;
    Journal m_journal;
    LineSet m_done;                   ///< lines finished by an earlier session of this run
    qint64 m_skippedDone = 0;         ///< of those, read (and skipped) so far
    qint64 m_resumedOk = 0;           ///< records already in the results when this session started
    qint64 m_resumedFailed = 0;       ///< records already in the errors when this session started
    mutable RateLimiter m_limiter;    ///< mutable: reading its limits advances its time-driven state
    SharedLimits *m_shared = nullptr; ///< child; only with a project "shared" block
    Balancer m_balancer;
    RetryPolicy m_retry;
    Transport m_transport;
    Metrics m_metrics;
    TokenEstimator m_estimator;
    std::vector<RetryBudget> m_retryBudgets;
    std::vector<bool> m_quotaNoticed;

    std::deque<Pending> m_fresh;                     ///< read, never sent
    std::deque<Pending> m_retryReady;                ///< backoff over; go before fresh ones
    std::multimap<double, Pending> m_retryWaiting;   ///< keyed by the time their backoff ends
    std::unordered_map<quint64, Pending> m_inFlight; ///< keyed by transport ticket
    std::size_t m_lookahead = 256;
    quint64 m_blockEpoch = 0;
    bool m_inputDone = false;
    bool m_finishing = false;
    double m_unreachableSinceMs = -1; ///< since when every enabled endpoint is unreachable; -1 = not
    QString m_lastFailure;            ///< the last attempt's error, for the give-up message
    Secrets m_secrets;                ///< the endpoints' API keys, never written anywhere
    qint64 m_linesRead = 0;
    qint64 m_estimatedLines = 0;

    QTimer m_wakeTimer;
    QTimer m_tickTimer;
    QTimer m_flushSoon; ///< hands new records to the kernel at the end of this event-loop pass
};

} // namespace Sluice
