#include "sseparser.h"

namespace Sluice {

bool SseParser::feed(QByteArrayView bytes, std::vector<Event> &events)
{
    if (m_failed) {
        return false;
    }
    m_bytesFed += bytes.size();
    qsizetype start = 0;
    const qsizetype n = bytes.size();
    for (qsizetype i = 0; i < n; ++i) {
        const char c = bytes[i];
        if (c != '\n' && c != '\r') {
            continue;
        }
        if (c == '\n' && m_afterCr && i == start && m_line.isEmpty()) {
            // The LF of a CRLF whose CR ended the last line (possibly in the previous feed).
            m_afterCr = false;
            start = i + 1;
            continue;
        }
        m_afterCr = c == '\r';
        if (m_line.isEmpty()) {
            takeLine(bytes.sliced(start, i - start), events);
        } else {
            m_line.append(bytes.sliced(start, i - start));
            takeLine(m_line, events);
            m_line.clear();
        }
        start = i + 1;
        if (m_failed) {
            return false;
        }
    }
    if (start < n) {
        m_afterCr = false;
        m_line.append(bytes.sliced(start));
        if (m_line.size() > m_maxEventBytes) {
            m_failed = true;
            m_line.clear();
            return false;
        }
    }
    return true;
}

void SseParser::takeLine(QByteArrayView line, std::vector<Event> &events)
{
    if (line.isEmpty()) {
        if (m_hasData) {
            if (m_event.data.endsWith('\n')) {
                m_event.data.chop(1);
            }
            events.push_back(std::move(m_event));
        }
        m_event = Event();
        m_hasData = false;
        return;
    }
    if (line.front() == ':') {
        return; // a comment (keep-alive)
    }
    const qsizetype colon = line.indexOf(':');
    QByteArrayView field = colon < 0 ? line : line.first(colon);
    QByteArrayView value = colon < 0 ? QByteArrayView() : line.sliced(colon + 1);
    if (value.startsWith(' ')) {
        value = value.sliced(1);
    }
    if (field == "data") {
        m_event.data.append(value);
        m_event.data.append('\n');
        m_hasData = true;
        if (m_event.data.size() > m_maxEventBytes) {
            m_failed = true;
            m_event = Event();
        }
    } else if (field == "event") {
        m_event.name = value.toByteArray();
    }
}

} // namespace Sluice
