#pragma once

#include "balance/balancer.h"
#include "config/projectconfig.h"
#include "cost/costbook.h"
#include "cost/costbudget.h"
#include "limit/ratelimiter.h"
#include "limit/sharedbudget.h"
#include "metrics/metrics.h"
#include "net/attempt.h"
#include "net/classifier.h"
#include "retry/retrybudget.h"
#include "util/clock.h"

#include <vector>

namespace Sluice {

class Transport;

/// May this request go now, where, and when is the next chance? One object over everything that
/// holds a run back: the global and per-endpoint limiters (configured rates, rate-limit headers, 429
/// discovery, cooldowns, probes, quota, ejection), the budgets shared with other processes (behind
/// SharedBudget), the retry budgets, the cost budgets (CostBudget: each request's worst case is
/// reserved before it goes and settled to its actual cost), the transport's free connections, and the
/// weighted balancer that picks among the endpoints that pass. The scheduler asks; it holds no limit
/// logic of its own.
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
        CostAsk cost;               ///< what it may cost (CostBook::ask)
    };
    enum class Answer {
        Go,          ///< send to Pick::endpoint now
        Wait,        ///< nothing can go now (limits, cooldowns, connections): wait for nextChanceMs()
        RetriesHeld, ///< a budgeted retry, and no endpoint has retry budget: let fresh requests go first
        BudgetSpent, ///< its worst case can never fit a cost budget at any usable endpoint
        Unpriced,    ///< a budgeted run, and no usable endpoint has a price for its model
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
        bool retry = false;     ///< sent on the retry budget
        double reservedUsd = 0; ///< its worst case, committed until settle() (budgeted runs)
        double worstUsd = 0;    ///< its worst case; -1 when unpriced
        int model = CostBook::Unnamed;
    };

    /// `transport` tells which endpoints have a free connection; it must outlive the admission.
    /// `modelOverride`: what requests naming no model go as (before each endpoint's model), for prices.
    Admission(const ProjectConfig &project, const Clock *clock, const Transport *transport,
              const QString &modelOverride = QString());

    /// Budgets shared with other processes; not owned (must outlive the admission); null = none.
    void setSharedBudget(SharedBudget *shared);
    /// The run's cost budget shared with other processes (a team budget); not owned; null = none.
    void setTeamBudget(TeamBudget *team);
    /// A budgeted run needs a price for what it sends: an Error naming the enabled endpoints whose own
    /// model (what lines naming none go as) has none, unless the project allows unpriced models.
    Result<void> checkPrices(const ProjectConfig &project) const;
    /// Why a request can never go (`why`: BudgetSpent or Unpriced), for its error record.
    static QString refusal(Answer why, const Request &request);
    /// What `request` may cost (resolved once per request; no allocation).
    CostAsk costAsk(const Request &request) const { return m_costBook.ask(request); }
    const CostBook &costBook() const { return m_costBook; }
    /// A long-lived engine (the gateway) probes quota-exhausted endpoints again instead of giving
    /// them up for good.
    void setQuotaProbe(bool on);
    void start();
    void stop();

    Pick pick(const Ask &ask);
    Grant acquire(int endpoint, const Ask &ask);
    /// `feedback.ticket` is filled in from `grant`. `charged`: the usage the attempt reported (a failed
    /// one too, when it reported any); `chargedUnknown`: it was billed but reported no usage (a 2xx cut
    /// short), so it costs its worst case. Returns what the attempt cost in USD, -1 when unpriced.
    double settle(int endpoint, const Grant &grant, EndpointLimiter::Feedback feedback, const Usage &charged,
                  bool chargedUnknown = false);
    /// An attempt came back: settle() with the limiter's feedback read from `outcome` and `result` (the
    /// tokens of a success, a 2xx cut short charged at its worst case). `requestKey` tells requests apart
    /// for ejection. Returns what the attempt cost in USD, -1 when unpriced.
    double settleReply(int endpoint, const Grant &grant, const Outcome &outcome, const AttemptResult &result,
                       quint64 requestKey);
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
    /// The budget part of the cost stats: budgets, committed in flight, the team's state.
    void fillCostStats(CostStats &stats) const;
    /// What earlier sessions of a resumed run spent, in all and per endpoint (by index): counted
    /// against the run's and the endpoints' budgets.
    void addEarlierSpend(double runUsd, const std::vector<double> &endpointUsd);

private:
    bool anyRetryCredit() const;
    /// Whether `endpoint` may take `ask` as far as cost goes (Yes), not now (Later), or never.
    CostFit costFit(int endpoint, const Ask &ask);
    /// After no endpoint took `ask`: whether that is for good (BudgetSpent, Unpriced) or Wait.
    Answer whyNot(const Ask &ask);
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
    CostBook m_costBook;
    CostBudget m_costBudget;
    bool m_allowUnpriced = false;
};

} // namespace Sluice
