#pragma once

#include "limit/endpointlimiter.h"
#include "limit/tokenbucket.h"

#include <QString>

#include <memory>
#include <vector>

namespace Sluice {

/// All the request and token budgets of a run: one adaptive EndpointLimiter per endpoint (configured
/// rpm/tpm, rate-limit headers, 429 discovery, ramp-up, cooldowns, quota) and a global request bucket
/// (`rps`) and token bucket (`tpm`) shared by all endpoints. A request may go to endpoint `e` when both
/// the global budgets and `e`'s own have room. Buckets are smoothed: they hold one request plus
/// `SmoothingWindowMs` worth, so no 1-second window sees more than the rate plus that allowance
/// (100/s: at most 102 in any second). Not thread-safe; lives on the engine thread.
class RateLimiter
{
public:
    static constexpr double SmoothingWindowMs = 10.0;

    enum class Block {
        None,
        Global,       ///< the global rps budget is spent
        GlobalTokens, ///< the global tpm budget is spent
        Endpoint,     ///< the endpoint's own budgets or state (see EndpointLimiter::Block)
    };

    explicit RateLimiter(const Clock *clock);

    /// Global limits; 0 = unlimited.
    void setGlobalRate(double perSecond);
    void setGlobalTpm(double perMinute);
    /// Grows or shrinks the endpoint list; new endpoints are unlimited.
    void setEndpointCount(int count);
    void configureEndpoint(int endpoint, double rpm, double tpm);
    EndpointLimiter &endpoint(int endpoint) { return *m_endpoints.at(std::size_t(endpoint)); }
    const EndpointLimiter &endpoint(int endpoint) const { return *m_endpoints.at(std::size_t(endpoint)); }
    int endpointCount() const { return int(m_endpoints.size()); }

    /// True when the global budgets have room for a request reserving `tokens`.
    bool globalHasRoom(double tokens = 0) const;
    Block check(int endpoint, double tokens = 0);
    /// Spends a request and `tokens` from the global and the endpoint's budgets.
    EndpointLimiter::SendTicket acquire(int endpoint, double tokens = 0);
    /// Feeds a reply back: settles the token reservation, reads headers, reacts to 429/overload/quota.
    void onReply(int endpoint, const EndpointLimiter::Feedback &feedback);

    /// Earliest clock times at which the endpoint / the global budgets have room again.
    double endpointReadyAtMs(int endpoint, double tokens = 0);
    double globalReadyAtMs(double tokens = 0) const;

    double globalRate() const { return m_global.rate(); }

private:
    const Clock *m_clock;
    TokenBucket m_global;
    TokenBucket m_globalTokens;
    std::vector<std::unique_ptr<EndpointLimiter>> m_endpoints;
};

} // namespace Sluice
