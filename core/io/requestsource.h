#pragma once

#include "io/jsonlparser.h"
#include "io/request.h"

#include <QtGlobal>

#include <functional>

namespace Sluice {

/// Where an Engine's requests come from. A file run reads them from a JsonlReader; the gateway hands
/// over the requests its callers submit. The engine pulls with next() whenever it has room for more
/// (a file run keeps a bounded look-ahead; the gateway's engine takes one at a time, so priorities
/// and removals stay in the source until the request can really be sent).
///
/// Engine-thread only. The source is owned by whoever gave it to the engine and must outlive it.
class RequestSource
{
public:
    struct Item
    {
        enum class Kind {
            Request, ///< `request` is ready
            Invalid, ///< `error`: the input could not become a request (recorded as a failure)
            End,     ///< no more requests, ever: the run ends when the last one has its outcome
            None,    ///< nothing now; the source calls its wake handler when it has more
        };
        Kind kind = Kind::None;
        Request request;
        InputError error;
    };

    virtual ~RequestSource() = default;

    virtual Item next() = 0;
    /// False for a request nobody waits for any more (its caller left, or its deadline passed): the
    /// engine drops it instead of sending it. Asked before every attempt, retries included.
    virtual bool isWanted(const Request &request) const
    {
        Q_UNUSED(request);
        return true;
    }
    /// The engine took `request` but cannot send it now (no endpoint has room): a source that keeps its
    /// own order (priorities) takes it back, moving from `request`, so that requests arriving meanwhile
    /// can still go before it. False (the default): the engine keeps it.
    virtual bool giveBack(Request &request)
    {
        Q_UNUSED(request);
        return false;
    }
    /// Requests the source holds that the engine has not taken yet (shown as queued).
    virtual qint64 backlog() const { return 0; }
    /// Requests that will never be handed out if the run ends now (a stop): the source's own count or
    /// estimate, for the summary's not_started. By default, the backlog.
    virtual qint64 notHandedOut() const { return backlog(); }

    /// What a source knows about its input, for progress (a file's size and lines, a resumed run's
    /// earlier records). linesRead < 0: the engine counts the items it took.
    struct Progress
    {
        qint64 linesRead = -1;
        qint64 estimatedLines = 0;
        qint64 bytesRead = 0;
        qint64 fileSize = 0;
        qint64 resumedSucceeded = 0;
        qint64 resumedFailed = 0;
    };
    virtual Progress progress() const { return {}; }

    /// Set by the engine: call wake() (on the engine's thread) when next() has something again.
    void setWakeHandler(std::function<void()> handler) { m_wake = std::move(handler); }

protected:
    void wake() const
    {
        if (m_wake) {
            m_wake();
        }
    }

private:
    std::function<void()> m_wake;
};

} // namespace Sluice
