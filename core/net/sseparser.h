#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <vector>

namespace Sluice {

/// Splits a server-sent-events body into events as its bytes arrive (the WHATWG "event stream"
/// interpretation): lines end with CRLF, LF or CR, possibly split across feeds; `data:` lines of one
/// event are joined with LF; `event:` names it; comments (`:` lines), `id:`, `retry:` and unknown
/// fields are skipped; a blank line dispatches the event (none when it had no data). What is left
/// without a closing blank line when the body ends is not an event.
///
/// Incremental and bounded: it keeps only the unfinished line and event, and refuses (feed() returns
/// false, for good) an event or line larger than `maxEventBytes`. Not thread-safe; one per stream.
class SseParser
{
public:
    struct Event
    {
        QByteArray name; ///< the `event:` field; empty when the event had none ("message")
        QByteArray data; ///< the `data:` lines joined with LF
    };
    static constexpr qsizetype DefaultMaxEventBytes = 16 * 1024 * 1024;

    explicit SseParser(qsizetype maxEventBytes = DefaultMaxEventBytes)
        : m_maxEventBytes(maxEventBytes)
    {
    }

    /// Parses `bytes`, appending each completed event to `events`. False when an event or a line grew
    /// beyond the limit (the stream is unusable; later feeds return false too).
    bool feed(QByteArrayView bytes, std::vector<Event> &events);
    bool failed() const { return m_failed; }
    /// Bytes fed so far.
    qint64 bytesFed() const { return m_bytesFed; }

private:
    void takeLine(QByteArrayView line, std::vector<Event> &events);

    qsizetype m_maxEventBytes;
    QByteArray m_line; ///< the unfinished line
    Event m_event;     ///< the event being read
    bool m_hasData = false;
    bool m_afterCr = false; ///< the last byte was a CR: an LF right after it ends nothing
    bool m_failed = false;
    qint64 m_bytesFed = 0;
};

} // namespace Sluice
