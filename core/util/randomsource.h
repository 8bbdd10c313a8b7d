#pragma once

#include <QtGlobal>

#include <random>

namespace Sluice {

/// Source of randomness (backoff jitter, simulator faults), injected so tests can make it predictable.
class RandomSource
{
public:
    virtual ~RandomSource() = default;
    /// Uniform in [0, 1).
    virtual double uniform() = 0;
};

/// Mersenne Twister seeded once; not thread-safe, keep one per thread.
class DefaultRandom final : public RandomSource
{
public:
    explicit DefaultRandom(quint64 seed = std::random_device{}())
        : m_engine(seed)
    {
    }
    double uniform() override { return std::uniform_real_distribution<double>(0.0, 1.0)(m_engine); }

private:
    std::mt19937_64 m_engine;
};

} // namespace Sluice
