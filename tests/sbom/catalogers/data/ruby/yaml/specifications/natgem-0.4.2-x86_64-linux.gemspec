--- !ruby/object:Gem::Specification
name: natgem
version: !ruby/object:Gem::Version
  version: 0.4.2
platform: x86_64-linux
authors:
- ThreatStryker tests
autorequire:
bindir: bin
cert_chain: []
date: 2026-11-28 00:00:00.000000000 Z
dependencies: []
description:
email:
executables: []
extensions: []
extra_rdoc_files: []
files:
- lib/natgem.rb
homepage: https://example.org/natgem
licenses:
- BSD-2-Clause
metadata: {}
post_install_message:
rdoc_options: []
require_paths:
- lib
required_ruby_version: !ruby/object:Gem::Requirement
  requirements:
  - - ">="
    - !ruby/object:Gem::Version
      version: '0'
required_rubygems_version: !ruby/object:Gem::Requirement
  requirements:
  - - ">="
    - !ruby/object:Gem::Version
      version: '0'
requirements: []
rubygems_version: 3.3.15
signing_key:
specification_version: 4
summary: a platform gem
test_files: []

