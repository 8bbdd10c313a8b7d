#pragma once

#include "io/errorclass.h"
#include "io/jsonlparser.h"
#include "io/records.h"
#include "io/request.h"

#include <QByteArray>
#include <QString>

#include <nlohmann/json.hpp>

namespace Sluice {

/// Where an Engine delivers the one final outcome of each request. A file run writes it to the results
/// or the errors JSONL (and journals it); the gateway answers the caller waiting for it.
///
/// Called exactly once per request the source handed out (Invalid items included), on the engine's
/// thread. Messages never contain API keys (the engine redacts what leaves it through its writers;
/// a sink that shows messages elsewhere must not add keys of its own).
class OutcomeSink
{
public:
    virtual ~OutcomeSink() = default;

    /// A 2xx whose body arrived whole and is one JSON object: `bodyText`, the bytes as received.
    virtual void succeeded(const Request &request, const QByteArray &bodyText,
                           const Completion &completion) = 0;
    /// The request failed for good (or was dropped: ErrorClass::Cancelled). `body` is the last
    /// upstream reply's JSON body when there was one (an API error object), else null.
    virtual void failed(const Request &request, ErrorClass cls, const QString &message,
                        const Completion &completion, const nlohmann::json &body) = 0;
    /// The input never became a request.
    virtual void rejected(const InputError &error) = 0;
    /// The run is over and nothing more will be delivered; `complete`: every request the source ever
    /// had got its outcome (nothing was left unsent by a stop).
    virtual void runEnded(bool complete) { Q_UNUSED(complete); }
};

} // namespace Sluice
