#include "engine.h"

#include "net/provideradapter.h"
#include "net/qnamtransport.h"
#include "shared/sharedcostbudget.h"
#include "shared/sharedlimits.h"

#include <QLoggingCategory>

#include <algorithm>
#include <cmath>
#include <limits>

namespace Sluice {

Q_LOGGING_CATEGORY(lcEngine, "sluice.engine")

namespace {

/// State changes of the limiters (ramps, growth) are time-driven: with work waiting, look again at
/// least this often.
constexpr double MaxSleepMs = 1000;

} // namespace

Engine::Engine(ProjectConfig project, RunOptions options, QObject *parent)
    : Engine(std::move(project), std::move(options), EngineParts{}, parent)
{
}

Engine::Engine(ProjectConfig project, RunOptions options, RequestSource *source, OutcomeSink *sink,
               QObject *parent)
    : Engine(std::move(project), std::move(options),
             EngineParts{nullptr, nullptr, nullptr, source, sink, nullptr}, parent)
{
}

Engine::Engine(ProjectConfig project, RunOptions options, EngineParts parts, QObject *parent)
    : QObject(parent)
    , m_project(std::move(project))
    , m_options(std::move(options))
    , m_clock(parts.clock ? parts.clock : SteadyClock::instance())
    , m_ownRandom(parts.random ? nullptr : std::make_unique<DefaultRandom>())
    , m_random(parts.random ? parts.random : m_ownRandom.get())
    , m_transport(parts.transport ? parts.transport : new QnamTransport(m_clock, this))
    , m_admission(m_project, m_clock, m_transport, m_options.modelOverride)
    , m_retry(m_project.limits.retry, m_random)
    , m_serving(parts.source && parts.sink)
    , m_source(parts.source)
    , m_sink(parts.sink)
    , m_wakeTimer(m_clock, this, [this] { pump(); })
    , m_tickTimer(m_clock, this, [this] { tick(); })
{
    SharedBudget *shared = parts.shared ? parts.shared : SharedLimits::forProject(m_project, m_clock, this);
    if (shared) {
        shared->setChangedHandler([this] { pump(); });
        shared->setNoticeHandler([this](const QString &message) { Q_EMIT notice(message); });
        m_admission.setSharedBudget(shared);
    }
    if (TeamBudget *team =
            parts.teamBudget ? parts.teamBudget : SharedCostBudget::forProject(m_project, m_clock, this)) {
        team->setChangedHandler([this] { pump(); });
        m_admission.setTeamBudget(team);
    }
    init();
}

void Engine::init()
{
    int totalInFlight = 0;
    for (const EndpointConfig &e : std::as_const(m_project.endpoints)) {
        totalInFlight += e.maxInFlight;
    }
    m_lookahead = std::size_t(std::clamp(totalInFlight * 2, 256, 200000));
    if (m_serving) {
        // One request at a time out of the source: priorities, deadlines and callers that leave are
        // the source's business until the request can really go.
        m_lookahead = 1;
        // A server lives for weeks: an endpoint out of quota comes back when its billing does.
        m_admission.setQuotaProbe(true);
    }
    m_transport->setResultHandler([this](AttemptResult &&r) { handleResult(std::move(r)); });
    // Replies arrive in batches: the queue is pumped once per batch, not once per reply.
    m_transport->setBatchHandler([this] {
        if (m_state == RunState::Running) {
            pump();
        } else {
            maybeFinish();
        }
    });
}

Engine::~Engine()
{
    if (m_source) {
        m_source->setWakeHandler(nullptr); // a serving engine's source outlives it
    }
    m_transport->setResultHandler(nullptr);
    m_transport->setBatchHandler(nullptr);
}

QString Engine::redacted(QString text) const
{
    return m_secrets.redacted(std::move(text));
}

QString Engine::endpointName(int endpoint) const
{
    return endpoint >= 0 ? m_project.endpoints.at(endpoint).name : QString();
}

Result<void> Engine::start()
{
    if (m_state != RunState::Idle) {
        return Error{Error::Code::InvalidConfig, QStringLiteral("the run was already started"), 0};
    }
    if (auto valid = m_project.validate(QStringLiteral("project")); !valid) {
        return valid.error();
    }
    if (auto priced = m_admission.checkPrices(m_project); !priced) {
        return priced.error();
    }
    const auto keys = m_project.apiKeys(m_options.apiKeys);
    if (!keys) {
        return keys.error();
    }
    m_secrets = Secrets(*keys);
    if (!m_serving) {
        m_files = std::make_unique<RunFiles>(m_options, m_clock, this, m_options.tickMs);
        if (auto opened = m_files->open(m_project, m_secrets); !opened) {
            m_files.reset();
            return opened.error();
        }
        m_source = m_files.get();
        m_sink = m_files.get();
        carryEarlierSpend();
    }
    m_transport->setEndpoints(m_project.endpoints, *keys);
    m_metrics.reset(int(m_project.endpoints.size()), m_clock->nowMs());
    m_source->setWakeHandler([this] { wakeSoon(); });
    m_admission.start();
    setState(RunState::Running);
    m_tickTimer.start(m_options.tickMs);
    m_wakeTimer.start(0);
    return {};
}

void Engine::wakeSoon()
{
    if (m_state == RunState::Running && m_wakeTimer.dueMs() > m_clock->nowMs()) {
        m_wakeTimer.start(0);
    }
}

void Engine::setState(RunState state)
{
    if (m_state != state) {
        m_state = state;
        Q_EMIT stateChanged(state);
    }
}

bool Engine::refill()
{
    return m_queue.refill(*m_source, m_lookahead, m_blockEpoch, [this](const InputError &error) {
        m_sink->rejected(error);
        m_metrics.recordInvalidLine(error.cls, m_clock->nowMs());
    });
}

void Engine::pump()
{
    if (m_state != RunState::Running) {
        return;
    }
    const double now = m_clock->nowMs();
    m_queue.releaseDue(now);
    bool moreInput = refill();
    if (endedForGood(now)) {
        return;
    }
    if (sendWhatMayGo(now, &moreInput)) {
        ++m_blockEpoch;
        // Fresh requests that cannot go now return to a source that keeps its own order (the gateway's
        // priorities), so requests arriving meanwhile are not stuck behind them.
        m_queue.giveBack(*m_source);
    }
    maybeFinish();
    if (m_state == RunState::Running) {
        if (moreInput) {
            m_wakeTimer.start(0);
        } else {
            scheduleWake(now);
        }
    }
}

bool Engine::sendWhatMayGo(double nowMs, bool *moreInput)
{
    bool retriesHeld = false; // retries wait for retry credit; fresh requests may go meanwhile
    while (Pending *head = m_queue.head(retriesHeld)) {
        if (!m_source->isWanted(head->request)) {
            // Nobody waits for it any more (a gateway caller left or ran out of time): never sent.
            const Pending dropped = m_queue.takeHead(retriesHeld);
            writeFailure(dropped, ErrorClass::Cancelled,
                         QStringLiteral("dropped before sending: no longer wanted"), 0);
        } else {
            const Admission::Ask ask = askFor(*head);
            const Admission::Pick pick = m_admission.pick(ask);
            if (pick.answer == Admission::Answer::RetriesHeld) {
                retriesHeld = true;
                continue;
            }
            if (pick.answer == Admission::Answer::Wait) {
                return true;
            }
            if (pick.answer != Admission::Answer::Go) { // can never go: BudgetSpent or Unpriced
                if (!refuseHead(pick.answer, retriesHeld)) {
                    return false;
                }
            } else {
                Pending p = m_queue.takeHead(retriesHeld);
                if (p.heldEpoch < m_blockEpoch) {
                    m_metrics.recordOverflow(nowMs);
                }
                dispatch(pick.endpoint, std::move(p), ask, nowMs);
            }
        }
        // Sent, refused or dropped, the next one is read at once; a serving engine reads one at a time
        // (look-ahead 1), so a burst of callers goes out as far as the limits allow (and, at the cost
        // budget, is refused) in this pass, not one per wake-up, and a caller that left does not hold up
        // the next one until the next wake-up.
        if (m_queue.freshCount() < std::max<std::size_t>(1, m_lookahead / 2) && !m_queue.inputDone()) {
            *moreInput = refill() || *moreInput;
        }
    }
    return false;
}

Admission::Ask Engine::askFor(Pending &pending)
{
    if (pending.tokens < 0) {
        pending.tokens = m_estimator.reserve(pending.request.input);
    }
    if (!pending.cost.resolved) {
        pending.cost = m_admission.costAsk(pending.request);
    }
    return {pending.tokens, pending.attempts > 0 && RetryState::drawsOnRetryBudget(pending.lastClass),
            pending.cost};
}

bool Engine::refuseHead(Admission::Answer why, bool retriesHeld)
{
    if (why == Admission::Answer::BudgetSpent && !m_serving) {
        m_budgetStopped = true;
        Q_EMIT notice(QStringLiteral("cost budget reached: no more requests are sent; %1 in flight finish")
                          .arg(m_inFlight.size()));
        stop();
        return false;
    }
    const Pending p = m_queue.takeHead(retriesHeld);
    writeFailure(p, why == Admission::Answer::Unpriced ? ErrorClass::InvalidInput : ErrorClass::Budget,
                 Admission::refusal(why, p.request), 0);
    return true;
}

void Engine::dispatch(int endpoint, Pending &&pending, const Admission::Ask &ask, double nowMs)
{
    const EndpointConfig &e = m_project.endpoints.at(endpoint);
    Outgoing attempt;
    attempt.body = ProviderAdapter::requestBody(pending.request, e, m_options.modelOverride);
    pending.bodyKey = qHash(attempt.body, 1) | 1; // never 0 ("unknown")
    pending.grant = m_admission.acquire(endpoint, ask);
    // A gateway caller's own key goes only to endpoints configured to take it; its extra headers only
    // to endpoints of their dialect.
    if (e.forwardCallerKey) {
        attempt.apiKey = pending.request.callerKey;
    }
    attempt.headers = ProviderAdapter::forwardedHeaders(pending.request, e);
    attempt.stream = ProviderAdapter::streams(pending.request, e);
    attempt.relay = pending.request.streamRelay;
    const quint64 ticket = m_transport->send(endpoint, std::move(attempt));
    ++pending.attempts;
    pending.lastEndpoint = endpoint;
    m_metrics.recordIssued(endpoint, nowMs, pending.attempts > 1);
    m_inFlight.emplace(ticket, std::move(pending));
}

void Engine::handleResult(AttemptResult &&result)
{
    const auto node = m_inFlight.find(result.ticket);
    if (node == m_inFlight.end()) {
        return;
    }
    Pending p = std::move(node->second);
    m_inFlight.erase(node);

    const double now = m_clock->nowMs();
    const int endpoint = result.endpoint;
    const Outcome outcome = Classifier::classify(result.report);
    // A failed stream's reported tokens are spent all the same.
    const Usage usage = outcome.isSuccess() || result.stream.streamed ? result.usage : Usage{};
    if (usage.outputTokens > 0) {
        m_estimator.observeOutput(double(usage.outputTokens));
    }
    const double cost = m_admission.settleReply(endpoint, p.grant, outcome, result, p.bodyKey);
    p.addCost(cost);
    if (cost != 0) {
        m_metrics.recordCost(endpoint, cost, now);
    }
    m_metrics.recordAttempt(endpoint, outcome.cls, result.latencyMs, usage.inputTokens, usage.outputTokens,
                            now, &result.stream);
    if (!outcome.isSuccess()) {
        m_lastFailure = outcome.message;
    }
    watchEndpointStates(endpoint);
    p.tokens = -1; // estimate again for the next attempt (the output estimate learns)

    if (outcome.isSuccess()) {
        Completion c{endpointName(endpoint), p.attempts, result.report.httpStatus, result.latencyMs,
                     result.requestId};
        c.ttftMs = result.stream.ttftMs;
        c.outputTokensPerS = result.stream.outputTokensPerS(usage.outputTokens);
        c.costUsd = p.completionCostUsd();
        m_sink->succeeded(p.request, result.bodyText, c);
        m_metrics.recordFinal(ErrorClass::None, now);
        return;
    }
    handleFailure(std::move(p), outcome, result, now);
}

void Engine::handleFailure(Pending &&p, const Outcome &outcome, AttemptResult &result, double nowMs)
{
    p.lastClass = outcome.cls;
    p.lastMessage = outcome.message;
    p.lastStatus = result.report.httpStatus;
    p.lastRequestId = result.requestId;
    p.lastRetryAfterMs = result.rateLimit.retryAfterMs;
    const RetryContext context{m_admission.anyUsable(), m_state != RunState::Stopping};
    // A gateway caller already got part of this reply: it ends there, never sent again.
    const RetryPlan plan = result.stream.committed
                               ? RetryPlan{}
                               : m_retry.decide(outcome, p.attempts, result.rateLimit.retryAfterMs, context);
    switch (plan.verdict) {
    case RetryVerdict::Yes:
        m_queue.retryAt(nowMs + plan.delayMs, std::move(p));
        return;
    case RetryVerdict::WhenEndpointRecovers:
        // No backoff of its own: the endpoint's limiter holds it back (cooldown, probe), and
        // rate-limited requests are released first when it recovers, or go elsewhere.
        m_queue.retryWhenReady(std::move(p));
        return;
    case RetryVerdict::NoBudget:
        if (m_budgetStopped) {
            ++m_leftUnsent; // stopped at the cost budget: no record, a resume sends it again
            return;
        }
        break;
    case RetryVerdict::NoAttemptsLeft:
    case RetryVerdict::No:
        break;
    }
    writeFailure(p, outcome.cls, RetryState::finalMessage(outcome.message, plan, p.attempts),
                 result.latencyMs, result.body);
}

void Engine::watchEndpointStates(int only)
{
    // Tell the operator when an endpoint is ejected, comes back, or runs out of quota: once per change.
    for (const Admission::StateChange &change : m_admission.stateChanges(only)) {
        Q_EMIT notice(change.describe(endpointName(change.endpoint), redacted(m_lastFailure), m_serving));
    }
}

void Engine::writeFailure(const Pending &p, ErrorClass cls, const QString &message, double latencyMs,
                          const nlohmann::json &body)
{
    m_sink->failed(p.request, cls, redacted(message),
                   p.failureCompletion(endpointName(p.lastEndpoint), latencyMs), body);
    m_metrics.recordFinal(cls, m_clock->nowMs());
}

bool Engine::endedForGood(double nowMs)
{
    if (m_admission.quotaEndedTheRun()) {
        failEverything(ErrorClass::Quota,
                       QStringLiteral("quota: every endpoint is out of quota or disabled"));
        return true;
    }
    if (!m_admission.allEjected()) {
        m_unreachableSinceMs = -1;
        return false;
    }
    if (m_unreachableSinceMs < 0) {
        m_unreachableSinceMs = nowMs;
        Q_EMIT notice(QStringLiteral("every endpoint is unreachable or failing; requests wait (at most %1 s)")
                          .arg(m_options.unreachableGiveUpMs / 1000.0));
    }
    if (nowMs - m_unreachableSinceMs < m_options.unreachableGiveUpMs) {
        return false;
    }
    failEverything(ErrorClass::Transport,
                   QStringLiteral("every endpoint has been unreachable or failing for %1 s (last error: %2); "
                                  "not sent")
                       .arg(m_options.unreachableGiveUpMs / 1000.0)
                       .arg(redacted(m_lastFailure)));
    return true;
}

void Engine::failEverything(ErrorClass cls, const QString &message)
{
    // Nothing can be sent any more: every request still waiting ends as an error, and so does the
    // rest of the input (in chunks, so the event loop keeps turning). Requests in flight still finish.
    for (const Pending &p : m_queue.drainRetries()) {
        writeFailure(p, cls, message, 0);
    }
    for (int round = 0; round < 2; ++round) {
        for (const Pending &p : m_queue.drainFresh()) {
            writeFailure(p, cls, message, 0);
        }
        if (round == 0 && refill()) {
            m_wakeTimer.start(0);
        }
    }
    if (!m_queue.inputDone() && !m_queue.sourceDry()) {
        m_wakeTimer.start(0);
    }
    maybeFinish();
}

void Engine::scheduleWake(double nowMs)
{
    double wakeAt = m_queue.nextDueMs();
    Pending *head = m_queue.head(false);
    // A source that took its requests back (giveBack) still has work waiting.
    if (head || m_source->backlog() > 0) {
        const Admission::Ask ask = head ? askFor(*head) : Admission::Ask{};
        wakeAt = std::min({wakeAt, m_admission.nextChanceMs(ask, nowMs), nowMs + MaxSleepMs});
    }
    if (std::isfinite(wakeAt) && wakeAt < m_wakeTimer.dueMs()) {
        m_wakeTimer.startAt(std::max(wakeAt, nowMs));
    }
}

void Engine::maybeFinish()
{
    if (m_finishing || m_state == RunState::Idle || m_state == RunState::Finished || !m_inFlight.empty()) {
        return;
    }
    if (m_state == RunState::Stopping) {
        // Requests that failed and were waiting to retry end with their last error (at the cost budget:
        // without a record, for a resume).
        for (const Pending &p : m_queue.drainRetries()) {
            if (m_budgetStopped) {
                ++m_leftUnsent;
                continue;
            }
            writeFailure(p, p.lastClass,
                         RetryState::finalMessage(p.lastMessage, {RetryVerdict::NoBudget, 0}, p.attempts), 0);
        }
        finish();
        return;
    }
    if (m_queue.inputDone() && m_queue.empty()) {
        finish();
    }
}

void Engine::finish()
{
    m_finishing = true;
    m_admission.stop();
    m_wakeTimer.stop();
    m_tickTimer.stop();
    const qint64 unsent = qint64(m_queue.drainFresh().size()) + m_source->notHandedOut() + m_leftUnsent;
    m_sink->runEnded(unsent == 0);
    setState(RunState::Finished);
    MetricsSnapshot summary = snapshot();
    summary.notStarted = unsent;
    // The run is over: its last, partial second belongs in the final picture too.
    const std::vector<SecondSample> &history = m_metrics.history();
    summary.recent.clear();
    for (std::size_t i = history.size() > 60 ? history.size() - 60 : 0; i < history.size(); ++i) {
        summary.recent.append(history[i]);
    }
    Q_EMIT snapshotReady(summary);
    Q_EMIT finished(summary);
}

} // namespace Sluice
