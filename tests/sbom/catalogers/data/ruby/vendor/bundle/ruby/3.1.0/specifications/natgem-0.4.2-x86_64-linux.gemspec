# -*- encoding: utf-8 -*-
# stub: natgem 0.4.2 x86_64-linux lib

Gem::Specification.new do |s|
  s.name = "natgem".freeze
  s.version = "0.4.2"
  s.platform = "x86_64-linux".freeze

  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if s.respond_to? :required_rubygems_version=
  s.require_paths = ["lib".freeze]
  s.authors = ["ThreatStryker tests".freeze]
  s.date = "2026-11-28"
  s.homepage = "https://example.org/natgem".freeze
  s.licenses = ["BSD-2-Clause".freeze]
  s.rubygems_version = "3.3.15".freeze
  s.summary = "a platform gem".freeze

  s.installed_by_version = "3.3.15" if s.respond_to? :installed_by_version
end
