#pragma once

#include "balance/balancer.h"
#include "config/projectconfig.h"
#include "limit/ratelimiter.h"
#include "limit/sharedbudget.h"
#include "metrics/metrics.h"
#include "retry/retrybudget.h"
#include "util/clock.h"

#include <vector>

namespace Sluice {

class Transport;

/// May this request go now, where, and when is the next chance? One object over everything that
/// holds a run back: the global and per-endpoint limiters (configured rates, rate-limit headers, 429
/// discovery, cooldowns, probes, quota, ejection), the budgets shared with other processes (behind
/// SharedBudget), the retry budgets, the transport's free connections, and the weighted balancer that
/// picks among the endpoints that pass. The scheduler asks; it holds no limit logic of its own.
///
/// pick() only looks (and advances the balancer's turn); acquire() spends; settle() feeds the reply
/// back. Engine-thread only; time from the injected clock.
class Admission
{
public:
    /// What the scheduler wants to send.
    struct Ask
    {
        double tokens = 0;          ///< the request's token reservation
        bool budgetedRetry = false; ///< a retry that draws on the retry budget
    };
    enum class Answer {
        Go,          ///< send to Pick::endpoint now
        Wait,        ///< nothing can go now (limits, cooldowns, connections): wait for nextChanceMs()
        RetriesHeld, ///< a budgeted retry, and no endpoint has retry budget: let fresh requests go first
    };
    struct Pick
    {
        Answer answer = Answer::Wait;
        int endpoint = -1;
    };
    /// Handed out by acquire(), given back to settle().
    struct Grant
    {
        EndpointLimiter::SendTicket ticket;
        bool retry = false; ///< sent on the retry budget
    };

    /// `transport` tells which endpoints have a free connection; it must outlive the admission.
    Admission(const ProjectConfig &project, const Clock *clock, const Transport *transport);

    /// Budgets shared with other processes; not owned (must outlive the admission); null = none.
    void setSharedBudget(SharedBudget *shared);
    /// A long-lived engine (the gateway) probes quota-exhausted endpoints again instead of giving
    /// them up for good.
    void setQuotaProbe(bool on);
    void start();
    void stop();

    Pick pick(const Ask &ask);
    Grant acquire(int endpoint, const Ask &ask);
    /// `feedback.ticket` is filled in from `grant`.
    void settle(int endpoint, const Grant &grant, EndpointLimiter::Feedback feedback);
    /// The earliest clock time at which `ask` could go (capped by the caller); +infinity when only a
    /// reply can change it. Without an ask (nothing waiting): infinity.
    double nextChanceMs(const Ask &ask, double nowMs);

    void setWeight(int endpoint, double weight);
    double weight(int endpoint) const { return m_balancer.weight(endpoint); }
    void setRates(int endpoint, double rpm, double tpm);
    void setGlobalRps(double rps);
    void setGlobalTpm(double tpm);

    /// An enabled endpoint that is not out of quota exists.
    bool anyUsable() const;
    /// Some endpoint is out of quota and none is usable: the run cannot go on.
    bool quotaEndedTheRun() const;
    /// Every usable endpoint is ejected (unreachable or failing); false when none is usable.
    bool allEjected() const;

    /// A change of an endpoint's state the operator should hear about: ejected, back, out of quota.
    struct StateChange
    {
        int endpoint = -1;
        EndpointState from = EndpointState::Active;
        EndpointState to = EndpointState::Active;
        int ejectedAfter = 0;
        /// One line for the operator; `lastError` is the failure that caused it (redacted).
        QString describe(const QString &name, const QString &lastError, bool quotaProbed) const;
    };
    /// The changes since the last call, of endpoint `only` (or of all: -1). Pauses and probes in
    /// between are not news.
    std::vector<StateChange> stateChanges(int only);

    /// The state shown to the operator (Disabled for weight 0).
    EndpointState endpointState(int endpoint) const;
    int ejectedAfter(int endpoint) const { return m_limiter.endpoint(endpoint).ejectedAfter(); }
    /// The limit part of an endpoint's live stats: state, effective limits and their reason.
    void fillStats(int endpoint, EndpointStats &stats);
    bool isShared() const { return m_shared != nullptr; }
    SharedLimitsStats sharedStats() const;

private:
    bool anyRetryCredit() const;
    void configureEndpoint(int endpoint);

    struct Endpoint
    {
        double rpm = 0;
        double tpm = 0;
    };

    const Clock *m_clock;
    const Transport *m_transport;
    RateLimiter m_limiter;
    Balancer m_balancer;
    std::vector<RetryBudget> m_retryBudgets;
    std::vector<Endpoint> m_endpoints;
    std::vector<EndpointState> m_told; ///< per endpoint, the state last reported by stateChanges()
    SharedBudget *m_shared = nullptr;
};

} // namespace Sluice
