#include "classifier.h"

#include <nlohmann/json.hpp>

namespace Sluice {

namespace {

QString jsonString(const nlohmann::json &object, const char *key)
{
    const auto it = object.find(key);
    if (it == object.end() || !it->is_string()) {
        return QString();
    }
    return QString::fromStdString(it->get_ref<const std::string &>());
}

QString statusMessage(const AttemptReport &r)
{
    QString message = QStringLiteral("HTTP %1").arg(r.httpStatus);
    if (!r.apiErrorMessage.isEmpty()) {
        message += QStringLiteral(": ") + r.apiErrorMessage.left(500);
    }
    return message;
}

bool isQuotaError(const AttemptReport &r)
{
    return r.apiErrorCode == QLatin1String("insufficient_quota") ||
           r.apiErrorType == QLatin1String("insufficient_quota");
}

QString seconds(double ms)
{
    return QString::number(ms / 1000.0, 'g', 6);
}

bool isRetryableNetworkError(QNetworkReply::NetworkError error)
{
    switch (error) {
    case QNetworkReply::SslHandshakeFailedError:
    case QNetworkReply::ProtocolUnknownError:
    case QNetworkReply::ProtocolInvalidOperationError:
    case QNetworkReply::ProxyAuthenticationRequiredError:
    case QNetworkReply::AuthenticationRequiredError:
        return false;
    default:
        return true;
    }
}

/// A streamed 2xx that did not complete.
Outcome streamOutcome(const AttemptReport &r)
{
    const QString after = QStringLiteral("after %1 content events").arg(r.streamChunks);
    switch (r.streamFailure) {
    case StreamFailure::Cut:
        return {
            ErrorClass::Transport, true,
            QStringLiteral("HTTP %1 stream cut %2 (no [DONE] / message_stop)").arg(r.httpStatus).arg(after)};
    case StreamFailure::Invalid:
        return {ErrorClass::Transport, true,
                QStringLiteral("HTTP %1 stream is not valid %2: %3")
                    .arg(r.httpStatus)
                    .arg(after, r.streamDetail)};
    case StreamFailure::ErrorEvent:
        break;
    case StreamFailure::None:
    case StreamFailure::Stalled:
        return {ErrorClass::None, false, QString()};
    }
    QString what = r.apiErrorType.isEmpty() ? r.apiErrorCode : r.apiErrorType;
    if (!r.apiErrorMessage.isEmpty()) {
        what += (what.isEmpty() ? QString() : QStringLiteral(": ")) + r.apiErrorMessage.left(500);
    }
    const QString message = QStringLiteral("stream error event %1%2")
                                .arg(after, what.isEmpty() ? QString() : QStringLiteral(": ") + what);
    const QString &type = r.apiErrorType;
    if (isQuotaError(r)) {
        return {ErrorClass::Quota, false, message};
    }
    if (type == QLatin1String("overloaded_error")) {
        return {ErrorClass::Overloaded, true, message};
    }
    if (type == QLatin1String("rate_limit_error") || r.apiErrorCode == QLatin1String("rate_limit_exceeded")) {
        return {ErrorClass::RateLimited, true, message};
    }
    if (type == QLatin1String("invalid_request_error") || type == QLatin1String("authentication_error") ||
        type == QLatin1String("permission_error") || type == QLatin1String("not_found_error") ||
        type == QLatin1String("request_too_large")) {
        return {ErrorClass::Client, false, message};
    }
    return {ErrorClass::Server, true, message};
}

/// The outcome of an attempt the server answered with `r.httpStatus` (not 0).
Outcome httpOutcome(const AttemptReport &r)
{
    const int s = r.httpStatus;
    if (s >= 200 && s < 300) {
        if (r.streamFailure != StreamFailure::None) {
            return streamOutcome(r);
        }
        if (!r.bodyComplete) {
            return {ErrorClass::Transport, true, QStringLiteral("HTTP %1 with a truncated body").arg(s)};
        }
        if (!r.bodyIsJson) {
            return {ErrorClass::Transport, true,
                    QStringLiteral("HTTP %1 whose body is not a JSON object").arg(s)};
        }
        return {ErrorClass::None, false, QString()};
    }
    if (s >= 300 && s < 400) {
        // Never followed, so credentials never reach the target; the record names its origin only.
        QString where;
        if (!r.redirectTarget.isEmpty()) {
            where = QStringLiteral(" to %1, %2")
                        .arg(r.redirectTarget, r.redirectCrossOrigin ? QStringLiteral("another origin")
                                                                     : QStringLiteral("the same origin"));
        }
        return {ErrorClass::Client, false,
                QStringLiteral("HTTP %1: unexpected redirect%2 (not followed)").arg(s).arg(where)};
    }
    if (s == 408) {
        return {ErrorClass::Timeout, true, statusMessage(r)};
    }
    if (s == 429) {
        if (isQuotaError(r)) {
            return {ErrorClass::Quota, false, statusMessage(r)};
        }
        return {ErrorClass::RateLimited, true, statusMessage(r)};
    }
    if (s >= 400 && s < 500) {
        if (isQuotaError(r)) {
            return {ErrorClass::Quota, false, statusMessage(r)};
        }
        return {ErrorClass::Client, false, statusMessage(r)};
    }
    if (s == 503 || s == 529) {
        return {ErrorClass::Overloaded, true, statusMessage(r)};
    }
    if (s >= 500 && s < 600) {
        return {ErrorClass::Server, true, statusMessage(r)};
    }
    return {ErrorClass::Transport, true, QStringLiteral("unexpected HTTP status %1").arg(s)};
}

/// The outcome of an attempt that got no HTTP status: what the network said.
Outcome networkOutcome(const AttemptReport &r)
{
    if (r.networkError == QNetworkReply::OperationCanceledError) {
        // Without our own flags, a cancel comes from Qt's idle transfer timeout.
        return {ErrorClass::Timeout, true, QStringLiteral("timeout: the connection went idle")};
    }
    if (r.networkError == QNetworkReply::TimeoutError) {
        return {ErrorClass::Timeout, true, QStringLiteral("timeout: ") + r.networkErrorString};
    }
    if (r.networkError == QNetworkReply::SslHandshakeFailedError) {
        // The same certificate will be refused again: not retried.
        if (!r.tlsErrors.isEmpty()) {
            return {ErrorClass::Transport, false,
                    QStringLiteral("TLS: the server's certificate is not trusted: %1 (set the endpoint's "
                                   "ca_file to trust its CA)")
                        .arg(r.tlsErrors.join(QStringLiteral("; ")))};
        }
        return {ErrorClass::Transport, false,
                QStringLiteral("TLS: handshake failed: %1")
                    .arg(r.networkErrorString.isEmpty() ? QStringLiteral("no reason given")
                                                        : r.networkErrorString)};
    }
    if (r.networkError == QNetworkReply::ConnectionRefusedError && r.reconnects > 0) {
        return {
            ErrorClass::Transport, true,
            QStringLiteral("transport: %1 (the server answered earlier in the run; still refused after %2 "
                           "more tries)")
                .arg(r.networkErrorString.isEmpty() ? QStringLiteral("Connection refused")
                                                    : r.networkErrorString)
                .arg(r.reconnects)};
    }
    const QString what = r.networkErrorString.isEmpty()
                             ? QStringLiteral("network error %1").arg(int(r.networkError))
                             : r.networkErrorString;
    return {ErrorClass::Transport, isRetryableNetworkError(r.networkError),
            QStringLiteral("transport: ") + what};
}

} // namespace

void Classifier::readApiError(const nlohmann::json &body, AttemptReport &report)
{
    if (!body.is_object()) {
        return;
    }
    const auto it = body.find("error");
    if (it == body.end()) {
        return;
    }
    if (it->is_object()) {
        report.apiErrorType = jsonString(*it, "type");
        report.apiErrorCode = jsonString(*it, "code");
        report.apiErrorMessage = jsonString(*it, "message");
    } else if (it->is_string()) {
        report.apiErrorMessage = QString::fromStdString(it->get_ref<const std::string &>());
    }
}

Outcome Classifier::classify(const AttemptReport &r)
{
    if (r.cancelled) {
        return {ErrorClass::Cancelled, false, QStringLiteral("cancelled: the run was stopped")};
    }
    if (!r.setupError.isEmpty()) {
        return {ErrorClass::Transport, false, r.setupError};
    }
    if (r.timedOut) {
        return {ErrorClass::Timeout, true,
                r.deadlineMs > 0
                    ? QStringLiteral("timeout: no complete reply within the attempt deadline of %1 s")
                          .arg(seconds(r.deadlineMs))
                    : QStringLiteral("timeout: no complete reply before the attempt deadline")};
    }

    if (r.streamFailure == StreamFailure::Stalled) {
        return {ErrorClass::Timeout, true,
                QStringLiteral("timeout: the stream stalled (nothing for %1 s, after %2 content events)")
                    .arg(seconds(r.stallMs))
                    .arg(r.streamChunks)};
    }
    if (r.httpStatus != 0) {
        return httpOutcome(r);
    }
    return networkOutcome(r);
}

} // namespace Sluice
