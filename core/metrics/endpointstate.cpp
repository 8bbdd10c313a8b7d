#include "endpointstate.h"

namespace Sluice {

QString toString(EndpointState state)
{
    switch (state) {
    case EndpointState::Active:
        return QStringLiteral("active");
    case EndpointState::Disabled:
        return QStringLiteral("disabled");
    case EndpointState::CoolingDown:
        return QStringLiteral("cooling down");
    case EndpointState::Probing:
        return QStringLiteral("probing");
    case EndpointState::Overloaded:
        return QStringLiteral("overloaded");
    case EndpointState::Unreachable:
        return QStringLiteral("unreachable");
    case EndpointState::Failing:
        return QStringLiteral("failing");
    case EndpointState::Quota:
        return QStringLiteral("quota exhausted");
    case EndpointState::SharedCooldown:
        return QStringLiteral("cooling down (shared)");
    }
    return QString();
}

QString toString(LimitReason reason)
{
    switch (reason) {
    case LimitReason::Unlimited:
        return QStringLiteral("unlimited");
    case LimitReason::ConfiguredRpm:
        return QStringLiteral("configured rpm");
    case LimitReason::ConfiguredTpm:
        return QStringLiteral("configured tpm");
    case LimitReason::HeaderLimit:
        return QStringLiteral("header limit");
    case LimitReason::HeaderTokens:
        return QStringLiteral("header tokens");
    case LimitReason::HeaderRemaining:
        return QStringLiteral("header remaining");
    case LimitReason::RampUp:
        return QStringLiteral("ramp-up");
    case LimitReason::Discovered:
        return QStringLiteral("429 discovery");
    case LimitReason::Backoff429:
        return QStringLiteral("429 backoff");
    case LimitReason::OverloadPause:
        return QStringLiteral("overloaded cooldown");
    case LimitReason::Ejected:
        return QStringLiteral("ejected");
    case LimitReason::Probing:
        return QStringLiteral("probing");
    case LimitReason::Quota:
        return QStringLiteral("quota exhausted");
    case LimitReason::GlobalRps:
        return QStringLiteral("global rps");
    case LimitReason::SharedRpm:
        return QStringLiteral("shared rpm");
    case LimitReason::SharedCooldown:
        return QStringLiteral("shared 429 cooldown");
    case LimitReason::Disabled:
        return QStringLiteral("disabled");
    }
    return QString();
}

bool isPaused(EndpointState state)
{
    switch (state) {
    case EndpointState::CoolingDown:
    case EndpointState::Probing:
    case EndpointState::Overloaded:
    case EndpointState::Unreachable:
    case EndpointState::Failing:
    case EndpointState::SharedCooldown:
        return true;
    case EndpointState::Active:
    case EndpointState::Disabled:
    case EndpointState::Quota:
        break;
    }
    return false;
}

bool isUsable(EndpointState state)
{
    return state != EndpointState::Disabled && state != EndpointState::Quota;
}

} // namespace Sluice
