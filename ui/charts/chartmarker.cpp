#include "chartmarker.h"

namespace Sluice::Gui {

QColor ChartMarker::color(Kind kind)
{
    switch (kind) {
    case Kind::Run:
        return QColor(0x80, 0x80, 0x88);
    case Kind::Edit:
        return QColor(0x3b, 0x82, 0xf6);
    case Kind::Ejection:
        return QColor(0xe0, 0x50, 0x48);
    case Kind::Recovery:
        return QColor(0x22, 0xa3, 0x5a);
    case Kind::RateLimitStorm:
        return QColor(0xd0, 0x8a, 0x10);
    }
    return QColor(0x80, 0x80, 0x80);
}

} // namespace Sluice::Gui
