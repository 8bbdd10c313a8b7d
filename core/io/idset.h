#pragma once

#include <QStringView>
#include <QtGlobal>

#include <cstdint>
#include <vector>

namespace Sluice {

/// The custom_ids a run has seen, and the line each was first seen on, in 12 bytes per id (an open-
/// addressing table of 64-bit hashes and 32-bit line numbers, at most 80 % full): 1,000,000 ids cost
/// 12–18 MB, where a hash of strings costs over 100. Two different ids are taken for the same one only
/// when their 64-bit hashes collide: about n² / 2⁶⁵, one in 370,000 runs of 10,000,000 lines.
class IdSet
{
public:
    /// Records `id` as seen on `line`. Returns 0 when it is new, else the line it was first seen on.
    qint64 insert(QStringView id, qint64 line);
    /// Makes room for `ids` ids in all, so that they are recorded without growing the table: growing
    /// holds the old and the new table at once (2.5 times the final size: 300 MB for 10,000,000 ids).
    void reserve(qint64 ids);
    qint64 size() const { return m_count; }
    std::size_t memoryBytes() const { return m_slots.capacity() * sizeof(Slot); }

private:
#pragma pack(push, 4)
    struct Slot
    {
        std::uint64_t hash = 0; ///< 0 = empty
        std::uint32_t line = 0;
    };
#pragma pack(pop)
    static_assert(sizeof(Slot) == 12);

    static std::uint64_t hashOf(QStringView id);
    std::size_t home(std::uint64_t hash) const;
    void grow();
    void rehash(std::size_t slots);

    std::vector<Slot> m_slots;
    qint64 m_count = 0;
};

} // namespace Sluice
