#pragma once

#include <QString>

namespace Sluice {

/// What an endpoint is doing now, as shown to the operator (table, summary, /status, /metrics).
/// The display text is toString(); the desktop app maps each state to a colour of its own.
enum class EndpointState {
    Active,         ///< takes requests (within its limits)
    Disabled,       ///< weight 0: the operator switched it off
    CoolingDown,    ///< paused after a 429 (Retry-After or an exponential pause), then probed
    Probing,        ///< one request is out to see whether the endpoint is back
    Overloaded,     ///< paused after a 529/503
    Unreachable,    ///< ejected: its last attempts got no HTTP answer (refused, reset, timed out)
    Failing,        ///< ejected: it answered, but 5xx or broken replies for several different requests
    Quota,          ///< quota exhausted (billing): out for the run; a gateway probes it now and then
    SharedCooldown, ///< paused because another process sharing its limits (Redis) got a 429
};

/// Why an endpoint's rate is what it is: the binding limit, or why it takes nothing now.
enum class LimitReason {
    Unlimited,       ///< no limit binds
    ConfiguredRpm,   ///< the project's rpm
    ConfiguredTpm,   ///< the project's tpm
    HeaderLimit,     ///< the request limit announced in the server's rate-limit headers
    HeaderTokens,    ///< the token limit announced in the server's rate-limit headers
    HeaderRemaining, ///< the server said nothing remains in its current window
    RampUp,          ///< ramping up after the start or an idle spell
    Discovered,      ///< cut after 429s to a rate the server tolerates (429 discovery)
    Backoff429,      ///< paused after a 429
    OverloadPause,   ///< paused after a 529/503
    Ejected,         ///< paused after failures in a row (Unreachable or Failing)
    Probing,         ///< waiting for a probe's answer
    Quota,           ///< quota exhausted
    GlobalRps,       ///< the run's global requests per second
    SharedRpm,       ///< the rpm shared through Redis
    SharedCooldown,  ///< a shared 429 cooldown
    Disabled,        ///< weight 0
};

QString toString(EndpointState state);
QString toString(LimitReason reason);

/// True when the endpoint takes nothing now but will again by itself (a pause, a probe, an ejection).
bool isPaused(EndpointState state);
/// True when the endpoint can still serve requests in this run, now or after a pause.
bool isUsable(EndpointState state);

} // namespace Sluice
