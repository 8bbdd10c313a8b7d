#pragma once

#include "config/projectconfig.h"
#include "engine/requestqueue.h"
#include "io/outcomesink.h"
#include "io/requestsource.h"
#include "io/runfiles.h"
#include "io/tokenestimator.h"
#include "limit/admission.h"
#include "metrics/metrics.h"
#include "net/transport.h"
#include "retry/retrystate.h"
#include "util/clock.h"
#include "util/randomsource.h"
#include "util/result.h"
#include "util/secrets.h"

#include <QHash>
#include <QObject>

#include <memory>
#include <unordered_map>

namespace Sluice {

/// A run's options: its files (FileRunOptions) and the knobs that are not part of the project.
struct RunOptions : FileRunOptions
{
    int tickMs = 250; ///< snapshot and checkpoint interval
    /// When every enabled endpoint has been ejected (unreachable or failing) this long, the requests
    /// still waiting end as errors instead of waiting for ever (--retry-errors sends them again later).
    /// Shorter outages lose nothing: requests wait, or go to endpoints that answer.
    double unreachableGiveUpMs = 60000;
    /// API keys by endpoint name, supplied by the caller (the desktop app reads them from the OS
    /// keychain). One found here is used instead of the endpoint's api_key_env variable.
    QHash<QString, QByteArray> apiKeys;
};

/// What an engine is made of besides its project; each part left null is made by the engine (the real
/// clock, a QNAM transport, the run's files, Redis-shared limits when the project has a "shared" block).
/// Given parts are not owned and must outlive the engine.
struct EngineParts
{
    const Clock *clock = nullptr;
    RandomSource *random = nullptr;
    Transport *transport = nullptr;
    /// Both or neither. Given: a serving engine (no files, no journal; it runs until stopped and probes
    /// quota-exhausted endpoints again), e.g. the gateway's callers, or a test's.
    RequestSource *source = nullptr;
    OutcomeSink *sink = nullptr;
    SharedBudget *shared = nullptr;
    /// The run's cost budget shared with other processes; made from the project's "shared" block and
    /// limits.max_cost_usd when null.
    TeamBudget *teamBudget = nullptr;
};

/// The scheduler of one run: takes requests from a RequestSource, asks Admission where and when each
/// may go, sends it through the Transport, classifies the reply, lets RetryState decide what follows,
/// and hands each request's one final outcome to an OutcomeSink.
///
/// A file run (made without a source and sink) reads and writes through RunFiles: exactly one record
/// per non-blank input line in the results or the errors file, journaled for resume. When the next
/// request can never fit the cost budget (Admission), a file run stops as stop() does, and the lines
/// not sent (those waiting for a retry too) keep no record, for a resume with a larger budget; a
/// serving engine refuses that request (ErrorClass::Budget) and goes on.
///
/// Event-driven on the thread it lives on (the CLI's main thread, or a worker thread under the GUI):
/// it wakes on replies and on one timer set for the earliest moment a budget, a cooldown or a backoff
/// ends. It never sleeps or blocks. Emits a MetricsSnapshot every `tickMs`, never a signal per request.
/// Commands (pause, weights...) are meant to arrive as queued calls from other threads.
class Engine : public QObject
{
    Q_OBJECT

public:
    /// A file run with the real parts.
    Engine(ProjectConfig project, RunOptions options, QObject *parent = nullptr);
    Engine(ProjectConfig project, RunOptions options, EngineParts parts, QObject *parent = nullptr);
    /// A serving engine: requests from `source`, outcomes to `sink`. Of `options`, only the API keys,
    /// modelOverride, tickMs and unreachableGiveUpMs apply.
    Engine(ProjectConfig project, RunOptions options, RequestSource *source, OutcomeSink *sink,
           QObject *parent = nullptr);
    ~Engine() override;

    bool isServing() const { return m_serving; }
    /// The run stopped because its next request did not fit the cost budget.
    bool budgetReached() const { return m_budgetStopped; }

    /// Takes each endpoint's API key from RunOptions::apiKeys, else from its environment variable, opens
    /// the files of a file run, and starts sending. An Error when a key variable is unset, a file cannot
    /// be opened, or a resume does not match the recorded run; nothing is sent then.
    Result<void> start();
    /// Stops issuing new attempts; replies in flight are still recorded.
    void pause();
    void resume();
    /// Graceful stop: no new attempts; waits for those in flight, writes their records, then finishes.
    /// Lines not yet sent get no record (summary: not_started).
    void stop();
    /// Hard stop: cancels attempts in flight (recorded as "cancelled" errors) and finishes.
    void abort();
    /// A serving engine's caller left: its attempt in flight (if any) is cancelled now, so nobody pays
    /// for a reply nobody reads. `line` is the request's Request::line.
    void cancelRequest(qint64 line);

    void setEndpointWeight(int endpoint, double weight);
    void setEndpointRpm(int endpoint, double rpm);
    void setEndpointMaxInFlight(int endpoint, int maxInFlight);
    void setGlobalRps(double rps);
    void setEndpointTpm(int endpoint, double tpm);
    void setGlobalTpm(double tpm);

    RunState state() const { return m_state; }
    MetricsSnapshot snapshot() const;
    const ProjectConfig &project() const { return m_project; }
    QString errorsPath() const { return m_options.resolvedErrorsPath(); }
    QString journalPath() const { return RunFiles::journalPathFor(m_options.outPath); }
    /// `text` with the run's API keys replaced by "[REDACTED]", for anything that leaves the engine.
    QString redacted(QString text) const;
    /// Per-second history of the run so far.
    const std::vector<SecondSample> &history() const { return m_metrics.history(); }

Q_SIGNALS:
    void snapshotReady(const Sluice::MetricsSnapshot &snapshot);
    void stateChanged(Sluice::RunState state);
    /// Emitted once, after every record is written and the files are closed.
    void finished(const Sluice::MetricsSnapshot &summary);
    /// Something the operator should know now (an endpoint out of quota, ejected, back, ...).
    void notice(const QString &message);

private:
    void init();
    void pump();
    bool sendWhatMayGo(double nowMs, bool *moreInput);
    bool refill();
    Admission::Ask askFor(Pending &pending);
    /// The head request can never go (`why`: BudgetSpent or Unpriced). False when the run stops.
    bool refuseHead(Admission::Answer why, bool retriesHeld);
    void dispatch(int endpoint, Pending &&pending, const Admission::Ask &ask, double nowMs);
    void handleResult(AttemptResult &&result);
    void handleFailure(Pending &&pending, const Outcome &outcome, AttemptResult &result, double nowMs);
    void writeFailure(const Pending &pending, ErrorClass cls, const QString &message, double latencyMs,
                      const nlohmann::json &body = nlohmann::json());
    bool endedForGood(double nowMs);
    void failEverything(ErrorClass cls, const QString &message);
    void scheduleWake(double nowMs);
    void wakeSoon();
    void maybeFinish();
    void finish();
    void tick();
    void setState(RunState state);
    /// A resumed file run: its budgets count what earlier sessions spent, and its checkpoints journal
    /// what the run has spent in all.
    void carryEarlierSpend();
    /// Applies the project's (edited) settings of `endpoint`, or the global limits for -1.
    void retuned(int endpoint);
    /// Notices for endpoints that were ejected, came back or ran out of quota (`only`: one endpoint;
    /// -1: all).
    void watchEndpointStates(int only);
    QString endpointName(int endpoint) const;

    ProjectConfig m_project;
    RunOptions m_options;
    const Clock *m_clock;
    std::unique_ptr<DefaultRandom> m_ownRandom;
    RandomSource *m_random;
    Transport
        *m_transport; ///< given, or a QnamTransport child of the engine (it follows the engine's thread)
    mutable Admission m_admission; ///< mutable: reading its limits advances time-driven state
    RetryState m_retry;
    Metrics m_metrics;
    TokenEstimator m_estimator;
    Secrets m_secrets; ///< the endpoints' API keys, never written anywhere

    RunState m_state = RunState::Idle;
    bool m_serving = false;
    std::unique_ptr<RunFiles> m_files; ///< a file run's source and sink
    RequestSource *m_source = nullptr; ///< m_files, or the serving engine's
    OutcomeSink *m_sink = nullptr;     ///< m_files, or the serving engine's

    RequestQueue m_queue;                            ///< not on the wire
    std::unordered_map<quint64, Pending> m_inFlight; ///< on the wire, by transport ticket
    std::size_t m_lookahead = 256;
    quint64 m_blockEpoch = 0;
    bool m_finishing = false;
    bool m_budgetStopped = false;     ///< stopped at the cost budget
    qint64 m_leftUnsent = 0;          ///< handed out, then left without a record by a budget stop
    double m_unreachableSinceMs = -1; ///< since when every enabled endpoint is ejected; -1 = not
    QString m_lastFailure;            ///< the last attempt's error, for the give-up message

    ClockTimer m_wakeTimer;
    ClockTimer m_tickTimer;
};

} // namespace Sluice
