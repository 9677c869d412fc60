#include "synapse/cli/config.h"

#include <gtest/gtest.h>

namespace synapse::cli {
namespace {

TEST(Config, TheDefaultTextParsesToTheDefaults) {
  Config parsed = Config::parse(Config::default_text(), "config.toml").value();
  Config defaults;
  EXPECT_EQ(parsed.store.capacity, defaults.store.capacity);
  EXPECT_EQ(parsed.store.sync, defaults.store.sync);
  EXPECT_EQ(parsed.import_preset, defaults.import_preset);
}

TEST(Config, ReadsEveryKey) {
  Config config = Config::parse(
                      "[store]\ncapacity = \"1.5G\"\nsync = false\n[import]\npreset = \"kubo-default\"\n",
                      "c.toml")
                      .value();
  EXPECT_EQ(config.store.capacity, 3ull << 29);
  EXPECT_FALSE(config.store.sync);
  EXPECT_EQ(config.import_preset, "kubo-default");
}

TEST(Config, ErrorsNameTheFileLineAndKey) {
  auto unknown = Config::parse("[store]\ncapcity = \"1G\"\n", "c.toml");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().message(), "c.toml:2: store.capcity: unknown key");

  auto bad_size = Config::parse("[store]\n\ncapacity = \"lots\"\n", "c.toml");
  ASSERT_FALSE(bad_size);
  EXPECT_NE(bad_size.error().message().find("c.toml:3: store.capacity"), std::string::npos);

  auto bad_type = Config::parse("[store]\nsync = \"yes\"\n", "c.toml");
  ASSERT_FALSE(bad_type);
  EXPECT_NE(bad_type.error().message().find("store.sync: expected true or false"),
            std::string::npos);

  auto bad_preset = Config::parse("[import]\npreset = \"fast\"\n", "c.toml");
  ASSERT_FALSE(bad_preset);
  EXPECT_NE(bad_preset.error().message().find("unknown preset 'fast'"), std::string::npos);

  auto syntax = Config::parse("[store\n", "c.toml");
  ASSERT_FALSE(syntax);
  EXPECT_EQ(syntax.error().message().rfind("c.toml:1: ", 0), 0u);

  auto section = Config::parse("[nonsense]\n", "c.toml");
  ASSERT_FALSE(section);
  EXPECT_NE(section.error().message().find("nonsense: unknown key"), std::string::npos);
}

}  // namespace
}  // namespace synapse::cli
