#pragma once

#include "sim/streamplan.h"

#include <QByteArray>

#include <memory>

namespace Sluice::Sim {

/// How a reply is put on the wire (scripted faults beyond the status and body).
enum class Delivery {
    Whole,        ///< written at once
    Reset,        ///< nothing written; the connection is closed
    Truncate,     ///< headers and half the body (Content-Length announces all of it), then a close
    ResetMidBody, ///< headers and half the body, then a TCP reset
    Drip,         ///< headers at once, then the body one byte every `dripMs`
    Hang,         ///< never answered (the connection stays open until the client gives up)
    Stream,       ///< server-sent events, step by step (`stream`)
};

/// One answer of a connection, queued in the order of its request.
struct PendingReply
{
    QByteArray bytes;                   ///< the whole response; empty for Reset, Hang and Stream
    std::unique_ptr<StreamPlan> stream; ///< Delivery::Stream only
    int status = 0; ///< the HTTP status written (0 for Delivery::Reset, -1 for Delivery::Hang)
    Delivery delivery = Delivery::Whole;
    bool broken = false; ///< a deliberately broken answer (garbage body): not counted as ok
    int dripMs = 0;
    double delayMs = 0; ///< from the request's arrival until the reply (or its head) may go
    bool ready = false;
    bool closeAfter = false;
};

} // namespace Sluice::Sim
