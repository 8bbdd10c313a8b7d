#pragma once

#include <QByteArray>

#include <string>

namespace Sluice::Sim {

/// A parsed `@sim(k=v,...)` directive (the keys are documented on Simulator).
struct Directive
{
    QByteArray key; ///< directive + full prompt text: scope of the `times` counter
    int status = 0;
    int times = -1; ///< -1: always
    qint64 retryAfterS = -1;
    qint64 retryAfterMs = -1;
    std::string code;
    qint64 delayMs = 0;
    bool reset = false;
    bool truncate = false;
    bool resetMidBody = false;
    bool garbage = false;
    bool hang = false;
    qint64 dripMs = 0;
    std::string redirect; ///< Location of a 3xx
    // Streamed replies only; counts are content chunks already sent, -1 = not scripted.
    qint64 cutAfter = -1;   ///< close the connection after this many chunks
    qint64 errorAfter = -1; ///< send an error event after this many chunks, then end the stream
    qint64 stallAfter = -1; ///< pause `stallMs` after this many chunks
    qint64 stallMs = 0;

    /// True when the body is broken on the wire (truncated, reset, dripped or not JSON): such an
    /// answer is always a whole (non-streamed) body.
    bool breaksBody() const { return truncate || resetMidBody || dripMs > 0 || garbage; }
};

} // namespace Sluice::Sim
