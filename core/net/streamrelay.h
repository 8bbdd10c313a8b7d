#pragma once

#include "config/projectconfig.h"

#include <QByteArray>
#include <QMutex>
#include <QString>

#include <functional>

namespace Sluice {

/// Hands a streamed reply's events, already in the caller's dialect, from the transport thread to a
/// gateway caller as they arrive, and decides whether a failed attempt may be sent again: it may as
/// long as the caller has been given nothing of it.
///
/// The transport (StreamReader) calls beginAttempt(), push() as events arrive and endAttempt() once;
/// the owner (the gateway, on its thread) is woken through the notify function (called on the
/// transport thread, once per batch of pushes: it should post a call to the owner's thread) and calls
/// take(). take() commits the request: from then on endAttempt(failed) answers that the caller has
/// part of a reply, so the scheduler does not retry it (the gateway ends the caller's stream with an
/// error event instead). Bytes pushed by an attempt that fails before anything was taken are dropped.
/// detach() (the caller left or was answered) stops the notifications and drops what comes later.
///
/// Thread-safe; shared (std::shared_ptr) by the gateway's caller and the request's attempts.
class StreamRelay
{
public:
    /// `dialect`: the caller's; `includeUsage`: an OpenAI caller asked for the usage chunk.
    StreamRelay(Provider dialect, bool includeUsage, std::function<void()> notify);

    Provider dialect() const { return m_dialect; }
    bool includeUsage() const { return m_includeUsage; }

    // Transport side.
    /// An attempt starts on `endpoint` (index in the project).
    void beginAttempt(int endpoint);
    /// The upstream's request id of the current attempt (from its reply headers).
    void setRequestId(const QString &requestId);
    /// Events for the caller.
    void push(const QByteArray &bytes);
    /// The attempt is over; `failed`: it did not complete. True when the caller was given part of
    /// this request's reply (it must not be sent again).
    bool endAttempt(bool failed);

    // Owner side.
    struct Taken
    {
        QByteArray bytes;
        bool first = false; ///< the first bytes the caller gets (write the answer's head first)
        int endpoint = -1;  ///< of the attempt that produced them
        QString requestId;
    };
    /// What arrived since the last take; commits the request when it is not empty.
    Taken take();
    bool isCommitted() const;
    /// No more notifications; later pushes are dropped.
    void detach();

private:
    const Provider m_dialect;
    const bool m_includeUsage;
    mutable QMutex m_mutex;
    std::function<void()> m_notify;
    QByteArray m_pending;
    int m_endpoint = -1;
    QString m_requestId;
    bool m_committed = false;
    bool m_notified = false; ///< a notification is on its way (no take since)
    bool m_detached = false;
};

} // namespace Sluice
