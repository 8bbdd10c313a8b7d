#include "latencyhistogram.h"

#include <algorithm>
#include <cmath>

namespace Sluice {

namespace {
constexpr double Growth = 1.04;
constexpr double FirstMs = 0.1;
} // namespace

int LatencyHistogram::bucketFor(double ms)
{
    if (!(ms > FirstMs)) {
        return 0;
    }
    const int b = int(std::ceil(std::log(ms / FirstMs) / std::log(Growth)));
    return std::clamp(b, 0, BucketCount - 1);
}

double LatencyHistogram::bucketUpperMs(int bucket)
{
    return FirstMs * std::pow(Growth, bucket);
}

void LatencyHistogram::add(double ms)
{
    ++m_buckets[std::size_t(bucketFor(ms))];
    ++m_count;
}

void LatencyHistogram::merge(const LatencyHistogram &other)
{
    for (int i = 0; i < BucketCount; ++i) {
        m_buckets[std::size_t(i)] += other.m_buckets[std::size_t(i)];
    }
    m_count += other.m_count;
}

void LatencyHistogram::clear()
{
    m_buckets.fill(0);
    m_count = 0;
}

double LatencyHistogram::quantile(double q) const
{
    if (m_count == 0) {
        return 0;
    }
    const qint64 rank = std::max<qint64>(1, qint64(std::ceil(std::clamp(q, 0.0, 1.0) * double(m_count))));
    qint64 seen = 0;
    for (int i = 0; i < BucketCount; ++i) {
        seen += m_buckets[std::size_t(i)];
        if (seen >= rank) {
            return bucketUpperMs(i);
        }
    }
    return bucketUpperMs(BucketCount - 1);
}

std::vector<std::pair<double, qint64>> LatencyHistogram::nonEmptyBuckets() const
{
    std::vector<std::pair<double, qint64>> buckets;
    for (int i = 0; i < BucketCount; ++i) {
        if (m_buckets[std::size_t(i)] > 0) {
            buckets.emplace_back(bucketUpperMs(i), qint64(m_buckets[std::size_t(i)]));
        }
    }
    return buckets;
}

} // namespace Sluice
