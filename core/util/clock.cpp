#include "clock.h"

#include <algorithm>
#include <chrono>
#include <cmath>

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

ClockTimer::ClockTimer(const Clock *clock, QObject *context, std::function<void()> handler)
    : m_clock(clock)
    , m_handler(std::move(handler))
{
    if (!m_clock->timerDriver()) {
        m_qtimer = new QTimer(context);
        m_qtimer->setSingleShot(true);
        m_qtimer->setTimerType(Qt::PreciseTimer);
        QObject::connect(m_qtimer, &QTimer::timeout, m_qtimer, [this] { fire(); });
    }
}

ClockTimer::~ClockTimer()
{
    if (m_clock->timerDriver()) {
        stop();
    }
    delete m_qtimer; // null when its context went first
}

void ClockTimer::startAt(double atMs)
{
    m_dueMs = atMs;
    if (TimerDriver *driver = m_clock->timerDriver()) {
        driver->arm(this, atMs);
        return;
    }
    const double wait = std::ceil(atMs - m_clock->nowMs());
    if (m_qtimer) {
        m_qtimer->start(int(std::clamp(wait, 0.0, 86400000.0)));
    }
}

void ClockTimer::start(double inMs)
{
    startAt(m_clock->nowMs() + std::max(0.0, inMs));
}

void ClockTimer::stop()
{
    if (!isActive()) {
        return;
    }
    m_dueMs = std::numeric_limits<double>::infinity();
    if (TimerDriver *driver = m_clock->timerDriver()) {
        driver->disarm(this);
    } else if (m_qtimer) {
        m_qtimer->stop();
    }
}

void ClockTimer::fire()
{
    m_dueMs = std::numeric_limits<double>::infinity();
    if (m_handler) {
        m_handler();
    }
}

} // namespace Sluice
