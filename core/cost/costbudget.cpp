#include "costbudget.h"

#include <algorithm>

namespace Sluice {

namespace {
/// Sums of prices in floating point: a reservation that fits to the last nano-dollar fits.
constexpr double Slack = 1e-9;
} // namespace

void CostBudget::configure(double runUsd, std::vector<double> endpointUsd)
{
    m_runUsd = std::max(0.0, runUsd);
    m_endpoints.resize(endpointUsd.size());
    for (std::size_t i = 0; i < endpointUsd.size(); ++i) {
        m_endpoints[i].budget = std::max(0.0, endpointUsd[i]);
    }
}

bool CostBudget::isLimited() const
{
    return m_runUsd > 0 || m_team ||
           std::any_of(m_endpoints.cbegin(), m_endpoints.cend(),
                       [](const Account &a) { return a.budget > 0; });
}

CostFit CostBudget::fitOne(double budget, double spent, double reserved, double usd)
{
    if (budget <= 0) {
        return CostFit::Yes;
    }
    if (spent + usd > budget + Slack) {
        return CostFit::Never;
    }
    return spent + reserved + usd > budget + Slack ? CostFit::Later : CostFit::Yes;
}

CostFit CostBudget::fit(int endpoint, double usd)
{
    const Account &a = m_endpoints[std::size_t(endpoint)];
    const CostFit own = fitOne(a.budget, a.spent, a.reserved, usd);
    if (own == CostFit::Never) {
        return own;
    }
    const CostFit run = m_team ? m_team->fit(usd) : fitOne(m_runUsd, m_spent, m_reserved, usd);
    return run == CostFit::Yes ? own : run;
}

void CostBudget::reserve(int endpoint, double usd)
{
    m_endpoints[std::size_t(endpoint)].reserved += usd;
    m_reserved += usd;
    if (m_team) {
        m_team->reserve(usd);
    }
}

void CostBudget::settle(int endpoint, double reservedUsd, double actualUsd)
{
    Account &a = m_endpoints[std::size_t(endpoint)];
    a.reserved = std::max(0.0, a.reserved - reservedUsd);
    a.spent += actualUsd;
    m_reserved = std::max(0.0, m_reserved - reservedUsd);
    m_spent += actualUsd;
    if (m_team) {
        m_team->settle(reservedUsd, actualUsd);
    }
}

void CostBudget::addEarlierSpend(double runUsd, const std::vector<double> &endpointUsd)
{
    m_earlier += std::max(0.0, runUsd);
    m_spent += std::max(0.0, runUsd);
    for (std::size_t i = 0; i < endpointUsd.size() && i < m_endpoints.size(); ++i) {
        m_endpoints[i].spent += std::max(0.0, endpointUsd[i]);
    }
}

} // namespace Sluice
