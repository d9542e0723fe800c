# The mocked AWS provider every `terraform test` of the tree plans with (`mock_provider "aws"
# { source = "../../tests/mocks" }`, the path taken from the module or env under test): one
# account, 111122223333, in us-east-1. The provider validates policy JSON, account IDs and the
# ARNs built from them at plan; the mock's random strings are none of these. A test that needs
# more (an availability zone list, a known resource attribute) adds its own blocks beside the
# source: they take precedence over these.

mock_data "aws_iam_policy_document" {
  defaults = {
    json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
  }
}

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "111122223333"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition = "aws"
  }
}

mock_data "aws_region" {
  defaults = {
    name = "us-east-1"
  }
}
