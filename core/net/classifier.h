#pragma once

#include "io/errorclass.h"

#include <QNetworkReply>
#include <QString>
#include <QStringList>

#include <nlohmann/json_fwd.hpp>

namespace Sluice {

/// Why a streamed reply that began as a 2xx did not complete.
enum class StreamFailure {
    None,
    Cut,        ///< the body ended (or the connection closed) before `[DONE]` / message_stop
    ErrorEvent, ///< the server sent an error event (the apiError* fields say which)
    Stalled,    ///< nothing arrived for longer than the stall timeout
    Invalid,    ///< an event made no sense (not JSON, a delta for no block, ...)
};

/// What one HTTP attempt produced, gathered by the transport for classification.
struct AttemptReport
{
    int httpStatus = 0; ///< 0 when no response status arrived
    QNetworkReply::NetworkError networkError = QNetworkReply::NoError;
    QString networkErrorString;
    bool timedOut = false;            ///< our total per-attempt deadline passed (not a user stop)
    double deadlineMs = 0;            ///< that deadline (0: unknown)
    bool cancelled = false;           ///< the run was stopped
    bool bodyComplete = true;         ///< body length matched Content-Length
    bool bodyIsJson = false;          ///< body parsed as a JSON object
    QString apiErrorType;             ///< `error.type` of an error body, when present
    QString apiErrorCode;             ///< `error.code` of an error body, when present
    QString apiErrorMessage;          ///< `error.message` of an error body, when present
    QString redirectTarget;           ///< origin (scheme://host:port) of a 3xx's Location, never its path
    bool redirectCrossOrigin = false; ///< the Location points at another scheme, host or port
    QStringList tlsErrors;            ///< why the server's certificate was refused (TLS handshake)
    int reconnects = 0;               ///< connections tried again after a refusal (a restarting server)
    QString setupError; ///< the attempt could not be made at all (e.g. an unusable proxy setting)
    StreamFailure streamFailure = StreamFailure::None;
    int streamChunks = 0; ///< a streamed reply: content events received
    double stallMs = 0;   ///< the stall timeout (StreamFailure::Stalled)
    QString streamDetail; ///< StreamFailure::Invalid: what made no sense
};

/// The verdict on one attempt.
struct Outcome
{
    ErrorClass cls = ErrorClass::None;
    bool retryable = false;
    QString message; ///< human-readable, never contains credentials

    bool isSuccess() const { return cls == ErrorClass::None; }
};

/// Classifies an attempt: HTTP status first (Qt has no error code for 429), then the transport error,
/// then body validity. A 2xx is a success only when its body arrived whole and is a JSON object.
class Classifier
{
public:
    static Outcome classify(const AttemptReport &report);
    /// Fills the apiError* fields from an OpenAI ({"error": {...}}) or Anthropic
    /// ({"type": "error", "error": {...}}) error body.
    static void readApiError(const nlohmann::json &body, AttemptReport &report);
};

} // namespace Sluice
