#include "errorclass.h"

namespace Sluice {

QString toString(ErrorClass cls)
{
    switch (cls) {
    case ErrorClass::None:
        return QStringLiteral("none");
    case ErrorClass::InvalidInput:
        return QStringLiteral("invalid_input");
    case ErrorClass::DuplicateId:
        return QStringLiteral("duplicate_id");
    case ErrorClass::RateLimited:
        return QStringLiteral("rate_limited");
    case ErrorClass::Quota:
        return QStringLiteral("quota");
    case ErrorClass::Overloaded:
        return QStringLiteral("overloaded");
    case ErrorClass::Client:
        return QStringLiteral("client");
    case ErrorClass::Server:
        return QStringLiteral("server");
    case ErrorClass::Transport:
        return QStringLiteral("transport");
    case ErrorClass::Timeout:
        return QStringLiteral("timeout");
    case ErrorClass::Cancelled:
        return QStringLiteral("cancelled");
    case ErrorClass::Budget:
        return QStringLiteral("budget");
    }
    return QString();
}

} // namespace Sluice
