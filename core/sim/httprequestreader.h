#pragma once

#include "sim/httprequest.h"

#include <QByteArray>

class QIODevice;

namespace Sluice::Sim {

/// Splits the bytes of one connection into HTTP/1.x requests (request line, headers, a body framed by
/// Content-Length). Pipelined requests come out one at a time, in order. Limits: headers up to 64 KiB
/// (else 431), bodies up to 32 MiB (else 413), no `Transfer-Encoding` (411). After Status::Failed the
/// connection should answer errorStatus() and close: the stream is out of frame.
class HttpRequestReader
{
public:
    enum class Status {
        NeedMore, ///< no complete request yet
        Ready,    ///< request() holds one; consume() it once handled
        Failed,   ///< a framing error: answer errorStatus() with errorMessage(), then close
    };

    /// Appends what `device` has (up to `available` bytes) to the buffer.
    void readFrom(QIODevice *device, qint64 available);
    Status next();
    const HttpRequest &request() const { return m_request; }
    /// Moves past the request that next() returned Ready for.
    void consume();
    int errorStatus() const { return m_errorStatus; }
    const char *errorMessage() const { return m_errorMessage; }
    /// True while a parsed head asked for `Expect: 100-continue` and its body has not all arrived
    /// and no interim 100 was sent for it yet.
    bool awaitsContinue() const { return m_haveHead && m_head.expectContinue && !m_sentContinue; }
    void markContinueSent() { m_sentContinue = true; }
    /// Drops consumed bytes (amortised: only when at least as much was consumed as is left).
    void compact();
    /// Frees the buffer (the connection is gone).
    void release();

private:
    /// Byte range relative to the first byte of the current request, so that it survives buffer
    /// compaction and reallocation while the body is still arriving.
    struct Span
    {
        qsizetype offset = 0;
        qsizetype length = 0;
    };
    struct Head
    {
        Span method;
        Span target;
        Span authorization;
        Span apiKey;
        qsizetype headerBytes = 0; ///< request line + headers + blank line
        qint64 contentLength = 0;
        bool hasAuthorization = false;
        bool hasApiKey = false;
        bool keepAlive = true;
        bool http10 = false;
        bool chunked = false;
        bool expectContinue = false;
    };

    /// 0 = head parsed, -1 = need more bytes, else an HTTP error status.
    int parseHead();
    int parseRequestLine(QByteArrayView line, const char *request, Head &head) const;
    int parseHeader(QByteArrayView line, const char *request, Head &head, bool &sawLength) const;
    Status fail(int status, const char *message);
    void fillRequest();

    QByteArray m_buffer;
    qsizetype m_pos = 0;      ///< first byte of the request being parsed
    qsizetype m_scanFrom = 0; ///< where the search for the end of the headers resumes
    bool m_haveHead = false;
    bool m_sentContinue = false;
    Head m_head;
    HttpRequest m_request;
    int m_errorStatus = 0;
    const char *m_errorMessage = "";
};

} // namespace Sluice::Sim
