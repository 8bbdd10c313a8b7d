#pragma once

#include "io/jsonlparser.h"
#include "io/request.h"
#include "net/errorclass.h"

#include <QString>

#include <nlohmann/json.hpp>

namespace Sluice {

/// Where and how a request ended, for its output record.
struct Completion
{
    QString endpoint;     ///< name of the endpoint of the last attempt ("" when never sent)
    int attempts = 0;     ///< sends made
    int status = 0;       ///< HTTP status of the last attempt, 0 when none arrived
    double latencyMs = 0; ///< of the last attempt
    QString requestId;    ///< the server's x-request-id / request-id, when sent
};

/// Builders of the two output record shapes (README "Output"). The results shape follows the OpenAI
/// Batch output (`id`, `custom_id`, `response.status_code`, `response.body`, `error: null`) and adds
/// `line`, `endpoint`, `attempts`, `latency_ms`.
class Records
{
public:
    /// A results line. `body` is moved in.
    static nlohmann::json result(const QString &runId, const Request &request, nlohmann::json body,
                                 const Completion &completion);
    /// An errors line for a request that was sent (or could not be).
    static nlohmann::json error(const Request &request, ErrorClass cls, const QString &message,
                                const Completion &completion);
    /// An errors line for an input line that never became a request.
    static nlohmann::json inputError(const InputError &error);
};

} // namespace Sluice
