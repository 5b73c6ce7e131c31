// What bulwark-netem does to each packet of a slow or lossy link, without the packets.
#include "agent/link_shaper.h"

#include <gtest/gtest.h>

namespace bulwark::agent {
namespace {

TEST(LinkShaperTest, ADelayAddsToEveryPacketEachWay) {
  LinkShaper shaper({.delay_us = 20000}, 1);
  EXPECT_EQ(shaper.Admit(0, 1000, 1500), 21000);
  EXPECT_EQ(shaper.Admit(1, 1000, 1500), 21000);
  EXPECT_EQ(shaper.Admit(0, 1000, 64), 21000) << "no rate: packets do not wait for each other";
}

TEST(LinkShaperTest, ARatePacesPacketsBehindEachOtherPerDirection) {
  LinkShaper shaper({.delay_us = 100, .rate_mbit = 12}, 1);
  // 1500 bytes at 12 Mbit/s take 1000 us on the wire.
  EXPECT_EQ(shaper.Admit(0, 0, 1500), 1100);
  EXPECT_EQ(shaper.Admit(0, 0, 1500), 2100) << "the second waits for the first";
  EXPECT_EQ(shaper.Admit(1, 0, 1500), 1100) << "the other direction has a wire of its own";
  EXPECT_EQ(shaper.Admit(0, 5000, 1500), 6100) << "an idle wire sends at once";
}

TEST(LinkShaperTest, AFullQueueDropsLikeARouter) {
  LinkShaper shaper({.rate_mbit = 12, .max_queue_us = 3000}, 1);
  int sent = 0;
  for (int i = 0; i < 10; ++i) sent += shaper.Admit(0, 0, 1500).has_value();
  EXPECT_EQ(sent, 4) << "queued up to 3 ms of sending behind the first";
}

TEST(LinkShaperTest, LossDropsItsShareAtRandom) {
  LinkShaper none({.loss_percent = 0}, 7), all({.loss_percent = 100}, 7), some({.loss_percent = 30}, 7);
  int kept_none = 0, kept_all = 0, kept_some = 0;
  for (int i = 0; i < 10000; ++i) {
    kept_none += none.Admit(0, i, 100).has_value();
    kept_all += all.Admit(0, i, 100).has_value();
    kept_some += some.Admit(i % 2, i, 100).has_value();
  }
  EXPECT_EQ(kept_none, 10000);
  EXPECT_EQ(kept_all, 0);
  EXPECT_GT(kept_some, 6600);  // 7000 expected; the bounds are 14 standard deviations wide
  EXPECT_LT(kept_some, 7400);
}

TEST(LinkShaperTest, AnUnknownDirectionIsDropped) {
  LinkShaper shaper({}, 1);
  EXPECT_FALSE(shaper.Admit(2, 0, 100).has_value());
}

}  // namespace
}  // namespace bulwark::agent
