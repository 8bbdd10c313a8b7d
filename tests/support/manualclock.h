#pragma once

#include "util/clock.h"
#include "util/randomsource.h"

#include <QList>

namespace Sluice::Test {

/// A clock that only moves when the test says so.
class ManualClock final : public Clock
{
public:
    double nowMs() const override { return m_now; }
    void advance(double ms) { m_now += ms; }
    void set(double ms) { m_now = ms; }

private:
    double m_now = 1000.0;
};

/// Returns the given values in turn (cycling), for predictable jitter.
class ScriptedRandom final : public RandomSource
{
public:
    explicit ScriptedRandom(QList<double> values) : m_values(std::move(values)) {}
    double uniform() override
    {
        const double v = m_values.at(m_next % m_values.size());
        ++m_next;
        return v;
    }

private:
    QList<double> m_values;
    qsizetype m_next = 0;
};

} // namespace Sluice::Test
