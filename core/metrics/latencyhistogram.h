#pragma once

#include <QtGlobal>

#include <array>
#include <utility>
#include <vector>

namespace Sluice {

/// Fixed-size log-scale histogram of latencies in milliseconds (4 % wide buckets from 0.1 ms to
/// about 110 minutes), so percentiles cost O(buckets) and memory never grows with the request count.
class LatencyHistogram
{
public:
    void add(double ms);
    void merge(const LatencyHistogram &other);
    void clear();
    qint64 count() const { return m_count; }
    /// The q-quantile (0..1) in ms, to within one bucket (±4 %); 0 when empty.
    double quantile(double q) const;
    /// The buckets that hold latencies, in order: (upper bound in ms, count). For histograms.
    std::vector<std::pair<double, qint64>> nonEmptyBuckets() const;

private:
    static constexpr int BucketCount = 460;
    static int bucketFor(double ms);
    static double bucketUpperMs(int bucket);

    std::array<quint32, BucketCount> m_buckets{};
    qint64 m_count = 0;
};

} // namespace Sluice
