#pragma once

#include "io/errorclass.h"
#include "limit/tokenbucket.h"
#include "metrics/endpointstate.h"
#include "net/ratelimitheaders.h"

#include <QString>

#include <algorithm>
#include <limits>
#include <vector>

namespace Sluice {

/// The adaptive limit of one endpoint: how many requests and tokens it may be sent now.
///
/// It fuses three sources, always obeying the strictest:
/// - the operator's limits (`rpm`, `tpm`), released evenly (smoothed token buckets);
/// - the server's rate-limit headers: the announced limit caps the rate, and a mirror of the
///   server's own bucket (its `remaining`, minus what was sent since that reply's request left,
///   refilled at the announced rate) means we never send what the server says is not there;
/// - 429 feedback (AIMD): a 429 cuts the rate to `CutFactor` × the rate that provoked it (once per
///   congestion event: 429s for requests sent before the cut do not cut again), pauses the endpoint
///   until Retry-After or an exponential pause (250 ms doubling to 60 s while probes fail), then lets
///   one probe request through; when it succeeds the endpoint re-opens (with a ramp after a pause of
///   5 s or more), and the rate grows back by 5 % of the cut rate a second up to 95 % of it, then by
///   1 % a second, so a wrongly high limit converges just under the real one with few 429s.
///
/// Ramp-up: at the start and after `IdleResetMs` without a send, the rate starts at `RampStart` of
/// the limit and grows by `RampPerSecond` (50 % → 100 % in 2 s).
/// Overloaded (529/503): a fixed `OverloadPauseMs` pause (or Retry-After), no cut, no ramp.
/// Quota exhausted: the endpoint is out for the rest of the run; with setQuotaProbe() (a gateway, which
/// lives for weeks) it is probed again after `QuotaFirstProbeMs`, doubling to `QuotaMaxProbeMs`.
/// Ejection (outlier detection, as Envoy's consecutive gateway failures): when the failures in a row
/// (connection errors, timeouts, 5xx, broken 2xx) reach `FailuresToEject` *different requests*, the
/// endpoint is paused for `FirstDownMs` (doubling to `MaxDownMs` while its probes fail) and nothing is
/// sent to it, so requests wait or go to other endpoints instead of spending their attempts on it. An
/// attempt that got no HTTP answer always counts; answered failures count once per request body
/// (Feedback::requestKey), so one poison request retried against a healthy server never ejects it.
/// Ejected after no answers at all, the endpoint is Unreachable; after answers, it is Failing.
/// Probes: one request at a time; a probe with no answer after `ProbeTimeoutMs` no longer holds the
/// endpoint (another may go), and a cancelled probe (its caller left) is simply replaced.
///
/// Time comes from the injected clock. Engine-thread only.
class EndpointLimiter
{
public:
    static constexpr double RampStart = 0.5;
    static constexpr double RampPerSecond = 0.25;
    static constexpr double IdleResetMs = 10000;
    static constexpr double CutFactor = 0.85;
    static constexpr double FirstPauseMs = 250;
    static constexpr double LongPauseMs = 5000; ///< after a pause this long, re-open with a ramp
    static constexpr double MaxPauseMs = 60000;
    static constexpr double OverloadPauseMs = 2000;
    static constexpr double FastGrowth = 0.05;      ///< of the cut rate, per second, below 95 % of it
    static constexpr double SlowGrowth = 0.01;      ///< of the cut rate, per second, above that
    static constexpr double MinDiscoveredRps = 1.0; ///< 429 discovery never cuts below this
    static constexpr int FailuresToEject = 5;
    static constexpr double FirstDownMs = 1000;
    static constexpr double MaxDownMs = 30000;
    static constexpr double ProbeTimeoutMs = 5000;
    static constexpr double QuotaFirstProbeMs = 60000;
    static constexpr double QuotaMaxProbeMs = 900000;

    enum class State { Open, CoolingDown, Probing, Quota };

    enum class Block {
        None,
        Requests,       ///< the request budget (configured, header limit, discovered, ramp) is spent
        Tokens,         ///< the token budget is spent
        ServerRequests, ///< the server said no requests remain
        ServerTokens,   ///< the server said no tokens remain
        CoolingDown,    ///< paused after a 429 or overload
        Probing,        ///< a probe is in flight; wait for its answer
        Quota,          ///< quota exhausted: out for the run
    };

    /// Handed out by onSend(), handed back with the reply.
    struct SendTicket
    {
        quint64 seq = 0;
        double atMs = 0;
        double tokens = 0;           ///< reserved
        double tokensSentBefore = 0; ///< running total of reservations before this one
    };

    /// What came back for one request sent to this endpoint.
    struct Feedback
    {
        ErrorClass cls = ErrorClass::None;
        RateLimitInfo info;
        SendTicket ticket;
        double usedTokens = -1; ///< what the reply's usage reported; -1 when unknown
        bool answered = false;  ///< an HTTP status came back (the server is up, whatever it said)
        /// Tells requests apart for ejection (a hash of the body sent); 0 = unknown, counted apart.
        quint64 requestKey = 0;

        /// Tokens to charge for the attempt: what usage reported, the reservation when a success
        /// reported none; for a failure what it reported before failing (a streamed reply cut after
        /// its usage began), else nothing.
        double chargedTokens() const
        {
            if (cls != ErrorClass::None) {
                return std::max(0.0, usedTokens);
            }
            return usedTokens >= 0 ? usedTokens : ticket.tokens;
        }
    };

    explicit EndpointLimiter(const Clock *clock);

    /// Requests and tokens per minute; 0 = no configured limit. Takes effect at once.
    void configure(double rpm, double tpm);
    double configuredRpm() const { return m_rpm; }
    /// 429 discovery on (default) or off. Off, a 429 still pauses the endpoint (and probes), but does
    /// not cut its rate: used when shared limits pace the endpoint, where a per-process cut would
    /// strand the slots this process leased and no other process may use.
    void setDiscovery(bool on) { m_discovery = on; }
    /// Probe a quota-exhausted endpoint now and then instead of giving it up for good (a gateway).
    void setQuotaProbe(bool on) { m_quotaProbe = on; }
    double configuredTpm() const { return m_tpm; }

    /// Whether a request reserving `tokens` may be sent now.
    Block check(double tokens);
    /// Earliest clock time it could be (for the scheduler's timer); infinity when only a reply can
    /// change it (a probe in flight) or never (quota).
    double readyAtMs(double tokens);
    /// Records a send of a request reserving `tokens`.
    SendTicket onSend(double tokens);
    void onReply(const Feedback &feedback);

    State state() const { return m_state; }
    /// Out of quota (for the run, or until its next quota probe succeeds).
    bool isOutOfQuota() const
    {
        return m_state == State::Quota || (m_state != State::Open && m_pauseKind == PauseKind::Quota);
    }
    /// Paused or probing after an ejection (unreachable or failing; not a rate limit).
    bool isEjected() const
    {
        return m_state != State::Open && m_state != State::Quota &&
               (m_pauseKind == PauseKind::Unreachable || m_pauseKind == PauseKind::Failing);
    }
    /// The state shown to the operator.
    EndpointState publicState() const;
    /// For an ejected endpoint: the failures in a row that ejected it.
    int ejectedAfter() const { return m_ejectedAfter; }
    /// Current limits (0 = unlimited) and the reason for the binding one, for the snapshot.
    double effectiveRps();
    double effectiveTps();
    LimitReason limitReason();

private:
    void refresh();
    double rampFactor() const;
    double requestBase() const;
    double tokenBase() const;
    void cut();
    void pause(double ms);
    double measuredRps() const;
    void readServerBudget(const Feedback &feedback);
    void onRateLimited(const Feedback &feedback, bool isProbe);
    void onFailure(const Feedback &feedback, bool isProbe);
    void onProbeSuccess();

    static constexpr double Unlimited = std::numeric_limits<double>::infinity();

    const Clock *m_clock;
    double m_rpm = 0;
    double m_tpm = 0;
    TokenBucket m_requests;
    TokenBucket m_tokens;
    TokenBucket m_serverRequests;
    TokenBucket m_serverTokens;
    bool m_serverRequestsKnown = false;
    bool m_serverTokensKnown = false;
    double m_headerRps = Unlimited;
    double m_headerTps = Unlimited;
    double m_discoveredRps = Unlimited;
    double m_cutRps = 0; ///< the rate that provoked the last cut
    double m_lastCutMs = -Unlimited;
    double m_lastGrowthMs = 0;
    double m_rampStartMs = -Unlimited;
    double m_lastSendMs = -Unlimited;
    double m_pauseUntilMs = 0;
    double m_pauseStartMs = 0;
    double m_pauseMs = 0;
    enum class PauseKind { RateLimited, Overloaded, Unreachable, Failing, Quota };
    PauseKind m_pauseKind = PauseKind::RateLimited;
    int m_streakCount = 0;             ///< failures in a row, counted once per request
    bool m_streakAnswered = false;     ///< some failure of the streak got an HTTP answer
    std::vector<quint64> m_streakKeys; ///< the requests of the answered failures in the streak
    int m_ejectedAfter = 0;
    double m_quotaProbeMs = 0;
    bool m_quotaProbe = false;
    double m_probeSentMs = 0;
    double m_downMs = 0;
    quint64 m_sendSeq = 0;
    double m_tokensSent = 0;
    double m_windowStartMs = 0; ///< send-rate measurement: current 1 s window
    double m_windowSends = 0;
    double m_lastWindowRps = 0;
    quint64 m_probeSeq = 0;
    bool m_probeInFlight = false;
    bool m_discovery = true;
    State m_state = State::Open;
};

} // namespace Sluice
