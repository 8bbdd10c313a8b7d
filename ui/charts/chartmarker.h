#pragma once

#include <QColor>
#include <QString>

namespace Sluice::Gui {

/// Something that happened during a run, drawn as a vertical line across the charts at `second`.
struct ChartMarker
{
    enum class Kind {
        Run,            ///< pause, resume, stop
        Edit,           ///< a weight or limit changed during the run
        Ejection,       ///< an endpoint was taken out (unreachable, failing, overloaded, out of quota)
        Recovery,       ///< an endpoint is back
        RateLimitStorm, ///< an endpoint paused after a burst of 429s
    };

    double second = 0; ///< seconds since the start of the run
    Kind kind = Kind::Run;
    QString text; ///< what the log says, e.g. "sim-b ejected: failing: 5 different requests failed"

    /// The line's colour (mid-luminance: readable on the light and the dark theme).
    static QColor color(Kind kind);
};

} // namespace Sluice::Gui
