#pragma once

#include "cost/teambudget.h"

#include <vector>

namespace Sluice {

/// The money side of admission: what the run and each endpoint may spend, what they spent, and what is
/// committed to requests in flight. A request goes only when its worst case fits every budget on top of
/// what is spent and committed (reserve); its reply settles the reservation to the actual cost. So the
/// spend never passes a budget, whatever is in flight, retried or priced differently per endpoint,
/// as long as no reply costs more than its worst case (see CostBook).
///
/// A fit that fails only because of what is in flight is Later (a reply frees it); one that fails on
/// what is already spent is Never. With a TeamBudget, the run budget is the team's. Engine-thread only.
class CostBudget
{
public:
    /// `runUsd` 0: no run budget; `endpointUsd[i]` 0: none for endpoint i.
    void configure(double runUsd, std::vector<double> endpointUsd);
    /// The team's budget replaces the local run budget (not owned; null = none).
    void setTeam(TeamBudget *team) { m_team = team; }
    TeamBudget *team() const { return m_team; }

    bool isLimited() const;
    double runBudgetUsd() const { return m_runUsd; }
    double endpointBudgetUsd(int endpoint) const { return m_endpoints[std::size_t(endpoint)].budget; }

    CostFit fit(int endpoint, double usd);
    void reserve(int endpoint, double usd);
    void settle(int endpoint, double reservedUsd, double actualUsd);
    /// What earlier sessions of the same run spent (a resume): counted against the run's and the
    /// endpoints' budgets as if spent now. Not against a team budget, which Redis already holds.
    void addEarlierSpend(double runUsd, const std::vector<double> &endpointUsd);

    double spentUsd() const { return m_spent; } ///< earlier sessions' spend included
    double earlierUsd() const { return m_earlier; }
    double reservedUsd() const { return m_reserved; }
    double spentUsd(int endpoint) const { return m_endpoints[std::size_t(endpoint)].spent; }
    double reservedUsd(int endpoint) const { return m_endpoints[std::size_t(endpoint)].reserved; }

private:
    struct Account
    {
        double budget = 0;
        double spent = 0;
        double reserved = 0;
    };
    static CostFit fitOne(double budget, double spent, double reserved, double usd);

    double m_runUsd = 0;
    double m_spent = 0;
    double m_earlier = 0; ///< of m_spent, what earlier sessions spent (addEarlierSpend)
    double m_reserved = 0;
    std::vector<Account> m_endpoints;
    TeamBudget *m_team = nullptr;
};

} // namespace Sluice
