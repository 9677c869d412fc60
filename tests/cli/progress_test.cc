#include "synapse/cli/progress.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace synapse::cli {
namespace {

TEST(ProgressBar, RendersDoneTotalPercentRateAndEta) {
  std::string line = ProgressBar::render(512ull << 20, 1ull << 30, 2.0, 78);
  EXPECT_NE(line.find("512.0 MiB / 1.0 GiB"), std::string::npos) << line;
  EXPECT_NE(line.find(" 50%"), std::string::npos) << line;
  EXPECT_NE(line.find("256.0 MiB/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 2s"), std::string::npos) << line;
  EXPECT_LE(line.size(), 78u);
}

TEST(ProgressBar, WithoutATotalShowsOnlyBytesAndRate) {
  std::string line = ProgressBar::render(3ull << 20, std::nullopt, 1.0, 78);
  EXPECT_EQ(line, "3.0 MiB  3.0 MiB/s");
}

TEST(ProgressBar, StaysSilentDuringTheFirstSecondAndErasesItselfWhenDone) {
  core::ManualClock clock;
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* out = ::open_memstream(&buffer, &size);
  {
    ProgressBar bar(clock, 100, /*enabled=*/true, out);
    clock.advance(std::chrono::milliseconds(900));
    bar.update(10);
    std::fflush(out);
    EXPECT_EQ(size, 0u);
    clock.advance(std::chrono::milliseconds(200));
    bar.update(50);
    std::fflush(out);
    EXPECT_NE(std::string(buffer, size).find("50%"), std::string::npos);
    size_t drawn = size;
    clock.advance(std::chrono::milliseconds(10));
    bar.update(60);  // too soon to redraw
    std::fflush(out);
    EXPECT_EQ(size, drawn);
    bar.finish();
    std::fflush(out);
    EXPECT_EQ(std::string(buffer, size).back(), '\r');
  }
  std::fclose(out);
  std::free(buffer);
}

TEST(ProgressBar, DisabledDrawsNothing) {
  core::ManualClock clock;
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* out = ::open_memstream(&buffer, &size);
  {
    ProgressBar bar(clock, 100, /*enabled=*/false, out);
    clock.advance(std::chrono::seconds(5));
    bar.update(50);
  }
  std::fflush(out);
  EXPECT_EQ(size, 0u);
  std::fclose(out);
  std::free(buffer);
}

}  // namespace
}  // namespace synapse::cli
