#pragma once

#include <QString>

namespace Sluice {

/// Why a request ended without success. The names (toString) are the `error_class` values written to
/// the errors file and shown in summaries.
enum class ErrorClass {
    None,         ///< success
    InvalidInput, ///< "invalid_input": the line could not be understood
    DuplicateId,  ///< "duplicate_id": custom_id seen on an earlier line
    RateLimited,  ///< "rate_limited": 429 (temporary)
    Quota,        ///< "quota": 429 insufficient_quota, billing exhausted
    Overloaded,   ///< "overloaded": 529 or 503
    Client,       ///< "client": other 4xx, unexpected 3xx; never retried
    Server,       ///< "server": 5xx
    Transport,    ///< "transport": connection failures, truncated or invalid 2xx body
    Timeout,      ///< "timeout": the attempt's deadline passed (or 408)
    Cancelled,    ///< "cancelled": the run was stopped before the request finished
    Budget,       ///< "budget": not sent, the cost budget is spent (a gateway's caller; a file run
                  ///< leaves such lines without a record, for --resume)
};

QString toString(ErrorClass cls);

} // namespace Sluice
