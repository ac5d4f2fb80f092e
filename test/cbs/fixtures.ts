/** Hand-made CBS fixtures shared by the test/cbs tests (built in code, no files). */

export const W = 'publicKeyToken="31bf3856ad364e35"';

/** A 24H2-style RollupFix update.mum, assembled from the shapes in docs/cbs.md. */
export const ROLLUP_MUM = `\uFEFF<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" description="Fix for KB5129195" displayName="default" company="Microsoft Corporation" copyright="Microsoft Corporation" supportInformation="http://support.microsoft.com/?kbid=5129195" creationTimeStamp="2026-05-01T10:00:00Z" lastUpdateTimeStamp="2026-05-01T10:00:00Z">
  <assemblyIdentity name="Package_for_RollupFix" version="26100.9457.1.12" language="neutral" processorArchitecture="amd64" ${W}/>
  <package identifier="KB5129195" releaseType="Security Update" restart="possible" targetPartition="MainOS" binaryPartition="false" selfUpdate="false" contained="false" futureAttr="42">
    <mum2:customInformation xmlns:mum2="urn:schemas-microsoft-com:asm.v3" Version="10.0.26100.9457" PackageFormat="PSFX" PSFXVersion="2" PSFXDeltaFormat="ForwardOnly" LCUVer="10.0.26100.9457"/>
    <parent buildCompare="EQ" serviceCompare="GE" revisionCompare="GE" distributionCompare="GE" integrate="separate" disposition="detect">
      <assemblyIdentity name="Microsoft-Windows-Foundation-Package" version="10.0.26100.1" language="neutral" processorArchitecture="amd64" ${W}/>
    </parent>
    <parent buildCompare="EQ" integrate="separate" disposition="detect" set="languageResources">
      <assemblyIdentity name="Microsoft-Windows-Client-LanguagePack-Package" version="10.0.26100.1" language="*" processorArchitecture="amd64" ${W}/>
    </parent>
    <installerAssembly name="Microsoft-Windows-ServicingStack" version="6.0.0.0" language="neutral" processorArchitecture="amd64" versionScope="nonSxS" ${W}/>
    <selectable disposition="detectNone"/>
    <packageExtended packageSize="123456789" completelyOfflineCapable="yes" allowedOffline="true"/>
    <update name="5129195-1_neutral_PACKAGE">
      <package integrate="hidden" contained="false">
        <assemblyIdentity name="Package_1_for_KB5129195" version="26100.9457.1.12" language="neutral" processorArchitecture="amd64" ${W}/>
      </package>
    </update>
    <update name="5129195-2_neutral_LDR">
      <applicable disposition="staged">
        <updateComponent elevate="distribution">
          <assemblyIdentity name="Microsoft-Windows-DirectComposition" version="10.0.26100.8972" processorArchitecture="amd64" language="neutral" buildType="release" ${W} versionScope="nonSxS"/>
        </updateComponent>
      </applicable>
      <component>
        <assemblyIdentity name="Microsoft-Windows-DirectComposition-Deployment" version="10.0.26100.9457" processorArchitecture="amd64" language="neutral" buildType="release" ${W} versionScope="nonSxS"/>
      </component>
    </update>
    <update name="5129195-3_neutral_DRIVER">
      <detectUpdate>
        <assemblyIdentity name="dual_netvg63a.inf" version="10.0.26100.1" processorArchitecture="amd64" language="neutral" ${W}/>
      </detectUpdate>
      <driver inf="netvg63a.inf" ranking="2">
        <assemblyIdentity name="dual_netvg63a.inf" version="10.0.26100.9457" processorArchitecture="amd64" language="neutral" ${W}/>
      </driver>
    </update>
    <update name="5129195-4_other">
      <selectable disposition="detectNone"/>
    </update>
  </package>
</assembly>`;


/** A minimal package .mum with the given name and package attributes/children. */
export function mumXml(name: string, version: string, packageAttrs = '', packageBody = '', lang = 'neutral'): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0">
  <assemblyIdentity name="${name}" version="${version}" language="${lang}" processorArchitecture="amd64" ${W}/>
  <package ${packageAttrs}>${packageBody}</package>
</assembly>`;
}

/** update.ses as seen in Win7 SP1 offline-install write-ups (docs/cbs.md), plus a second phase. */
export const UPDATE_SES = `<?xml version="1.0" encoding="utf-8"?>
<Tasks operationMode="OfflineInstall" futureAttr="x">
  <Phase>
    <package id="Windows7SP1-KB976933~31bf3856ad364e35~amd64~~6.1.1.17514" targetState="Installed"/>
  </Phase>
  <Phase rebootRequired="true">
    <package id="Package_for_KB2883457~31bf3856ad364e35~amd64~~6.1.1.0" targetState="Absent" options="x"/>
    <package id="Microsoft-Windows-Client-LanguagePack-Package~31bf3856ad364e35~amd64~de-DE~6.1.7601.17514" targetState="Installed"/>
  </Phase>
</Tasks>`;

/** pkgProperties.txt text (fields from docs/cbs.md), CRLF lines. */
export const PKG_PROPERTIES = [
  'ApplicabilityInfo="Windows 10.0 Client SKUs"',
  'Applies to="Windows 10"',
  'Build Date="2016/05/10"',
  'Company="Microsoft Corporation"',
  'File Version="10.0.10586.420"',
  'Installation Type="FULL"',
  'Installer Engine="Component Based Servicing"',
  'Installer Version="10.0.10586.0"',
  'KB Article Number="3157663"',
  'Language="ALL"',
  'Package Type="Update"',
  'Processor Architecture="amd64"',
  'Product Name="Windows 10"',
  'Support Link="http://support.microsoft.com?kbid=3157663"',
  '',
].join('\r\n');
