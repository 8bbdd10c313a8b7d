#include "clock.h"

#include <chrono>

namespace Sluice {

double SteadyClock::nowMs() const
{
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

SteadyClock *SteadyClock::instance()
{
    static SteadyClock clock;
    return &clock;
}

} // namespace Sluice
