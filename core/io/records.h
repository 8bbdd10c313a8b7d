#pragma once

#include "io/errorclass.h"
#include "io/jsonlparser.h"
#include "io/request.h"

#include <QByteArrayView>
#include <QString>

#include <nlohmann/json.hpp>

#include <string>

namespace Sluice {

/// Where and how a request ended, for its output record.
struct Completion
{
    QString endpoint;     ///< name of the endpoint of the last attempt ("" when never sent)
    int attempts = 0;     ///< sends made
    int status = 0;       ///< HTTP status of the last attempt, 0 when none arrived
    double latencyMs = 0; ///< of the last attempt
    QString requestId;    ///< the server's x-request-id / request-id, when sent
    /// Failures: how long the last attempt's server asked to wait (retry-after-ms, else Retry-After), in
    /// ms; -1 when it did not say.
    double retryAfterMs = -1;
    /// A streamed reply: time to first token (first content byte after the request left) and output
    /// tokens per second; -1 (null in the record) for a reply that was not streamed.
    double ttftMs = -1;
    double outputTokensPerS = -1;
    /// What the request cost in USD (every attempt the provider charged for); -1 (null) when unpriced.
    double costUsd = -1;
};

/// Builders of the two output record shapes (README "Output"). The results shape follows the OpenAI
/// Batch output (`id`, `custom_id`, `response.status_code`, `response.body`, `error: null`) and adds
/// `line`, `endpoint`, `attempts`, `latency_ms`, `ttft_ms`, `output_tokens_per_s` (null unless streamed),
/// `cost_usd` (null when unpriced), and the input line's `metadata` object when it has one.
class Records
{
public:
    /// A results line, serialized, with the reply body as the server sent it (`bodyText`: one valid
    /// JSON value, as a parsed 2xx reply is; whitespace between its tokens is dropped, so a
    /// pretty-printed reply still makes one line) rather than parsed and serialized again. Keys in the
    /// order of the OpenAI Batch output (id, custom_id, line, response, error, ...).
    static std::string resultLine(const QString &runId, const Request &request, QByteArrayView bodyText,
                                  const Completion &completion);
    /// An errors line for a request that was sent (or could not be).
    static nlohmann::json error(const Request &request, ErrorClass cls, const QString &message,
                                const Completion &completion);
    /// An errors line for an input line that never became a request.
    static nlohmann::json inputError(const InputError &error);
};

} // namespace Sluice
